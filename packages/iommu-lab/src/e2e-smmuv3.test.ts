// Issue 6 end to end: Arm SMMUv3 under iommufd and the VFIO cdev, nesting through a vIOMMU the way a VMM does it.
import type { ArmSmmuV3Unit } from '@iommu-lab/hw-smmuv3';
import { Cd, LINUX_MAIR, SMMU_REG } from '@iommu-lab/hw-smmuv3/format';
import {
  IOMMU_DESTROY,
  IOMMU_GET_HW_INFO,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_VDEVICE_ALLOC,
  IOMMU_VEVENTQ_ALLOC,
  IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
  IOMMU_VIOMMU_ALLOC,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
} from '@iommu-lab/iommu-core';
import { A64PageTable, errnoOf, type PciDevice, type PtMemory } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { createHost } from './create-host.js';
import { faults, le64, userBytes } from './__tests__/helpers.js';

const BDF = '0000:03:00.0';
/** Guest RAM: 64 pages at IPA 1 GiB, which is also their IOVA in the IOAS (the nest parent's stage 2). */
const IPA = 0x4000_0000n;
const GUEST_PAGES = 64;
/** The CD table (one CD) in the first guest page; stage-1 tables after it; DMA buffers up high. */
const CD_IPA = IPA;
const BUF_A = IPA + 32n * 4096n;
const BUF_B = IPA + 48n * 4096n;
/** The guest's IOVA space: 4 pages at 0x7000_0000. */
const IOVA = 0x7000_0000n;
const VSID = 0x20n;
const ASID = 0x42;
const RW = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
/** CMDQ opcodes (IHI0070 4.1): what the guest's driver writes into its command queue. */
const CFGI_STE = 0x03n;
const CFGI_CD = 0x05n;
const TLBI_NH_VA = 0x12n;





/** A VMM: /dev/iommu, a bound VFIO device, an IOAS holding guest RAM, a nest-parent S2, a vIOMMU with a vDEVICE, and the guest's CD and stage 1 in its RAM. */
function vm() {
  const host = createHost({ memory: '256M', iommus: [{ id: 'smmu0', model: 'arm-smmuv3' }], devices: [{ bdf: BDF, iommu: 'smmu0', pasidBits: 8 }] });
  const unit = host.iommu.unit('smmu0') as ArmSmmuV3Unit;
  const pci: PciDevice = host.device(BDF);
  const proc = host.spawnProcess();
  const fd = proc.open('/dev/iommu');
  const dev = proc.open(pci.cdevPath!);
  const bind = { argsz: 24, iommufd: fd, out_devid: 0 };
  proc.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, bind);
  const idev = bind.out_devid;
  const ioasCmd = { out_ioas_id: 0 };
  proc.ioctl(fd, IOMMU_IOAS_ALLOC, ioasCmd);
  const ioas = ioasCmd.out_ioas_id;
  const ram = proc.mmap(GUEST_PAGES * 4096);
  proc.ioctl(fd, IOMMU_IOAS_MAP, { flags: RW, ioas_id: ioas, user_va: ram, length: BigInt(GUEST_PAGES * 4096), iova: IPA });
  const hva = (ipa: bigint) => ram + (ipa - IPA);
  const view: PtMemory = {
    read64(ipa, out) {
      const dv = new DataView(proc.memRead(hva(BigInt(ipa)), 8).buffer);
      out[0] = dv.getUint32(0, true);
      out[1] = dv.getUint32(4, true);
      return true;
    },
    write64(ipa, lo, hi) {
      proc.memWrite(hva(BigInt(ipa)), le64((BigInt(hi) << 32n) | BigInt(lo)));
      return true;
    },
  };
  let nextTable = Number(IPA / 4096n) + 1;
  const table = () => new A64PageTable(view, () => nextTable++, { stage: 1, inputBits: 48 });
  const s1 = table();
  /** IOVA page i -> the guest buffer page at `buf` + i, in stage-1 table `pt`: writable, EL0 (the DMA is unprivileged). */
  const map = (i: number, buf: bigint, pt = s1) => pt.map(Number(IOVA / 4096n) + i, Number(buf / 4096n) + i, 3, { write: true, user: true });
  for (let i = 0; i < 4; i++) map(i, BUF_A);
  const writeCd = (asid: number, root: number) => proc.memWrite(hva(CD_IPA), le64(...Cd.encode({ t0sz: 16, ir0: 1, or0: 1, sh0: 3, epd1: 1, v: 1, ips: 5, aa64: 1, r: 1, a: 1, asid, ttb0: BigInt(root) * 4096n, mair: LINUX_MAIR })));
  writeCd(ASID, s1.root);
  const hwptAlloc = (ptId: number, flags: number, dataType = IOMMU_HWPT_DATA_NONE, data?: Uint8Array) => {
    const cmd = { flags, dev_id: idev, pt_id: ptId, out_hwpt_id: 0, data_type: dataType, data_len: data?.length ?? 0, data_uptr: data ? userBytes(proc, data) : 0n };
    proc.ioctl(fd, IOMMU_HWPT_ALLOC, cmd);
    return cmd.out_hwpt_id;
  };
  const parent = hwptAlloc(ioas, IOMMU_HWPT_ALLOC_NEST_PARENT);
  const viommuCmd = { type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: idev, hwpt_id: parent, out_viommu_id: 0 };
  proc.ioctl(fd, IOMMU_VIOMMU_ALLOC, viommuCmd);
  const viommu = viommuCmd.out_viommu_id;
  proc.ioctl(fd, IOMMU_VDEVICE_ALLOC, { viommu_id: viommu, dev_id: idev, virt_id: VSID });
  /** A nested HWPT on the vIOMMU from vSTE dwords 0-1 (struct iommu_hwpt_arm_smmuv3). */
  const nested = (ste0: bigint, ste1 = 0n) => hwptAlloc(viommu, 0, IOMMU_HWPT_DATA_ARM_SMMUV3, le64(ste0, ste1));
  const attach = (pt: number) => proc.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 12, pt_id: pt });
  /** The device writes 24 random bytes at iova; which guest buffer (same offset) got them. */
  const dma = (iova: bigint): 'A' | 'B' | 'none' => {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    pci.dmaWrite(iova, bytes);
    const at = (buf: bigint) => Buffer.from(proc.memRead(hva(buf + (iova - IOVA)), 24)).equals(bytes);
    return at(BUF_A) ? 'A' : at(BUF_B) ? 'B' : 'none';
  };
  /** IOMMU_HWPT_INVALIDATE on the vIOMMU: struct iommu_viommu_arm_smmuv3_invalidate { le64 cmd[2]; } entries. */
  const invalidate = (cmds: [bigint, bigint][]) => {
    const cmd = { hwpt_id: viommu, data_uptr: userBytes(proc, le64(...cmds.flat())), data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 16, entry_num: cmds.length };
    const errno = errnoOf(() => proc.ioctl(fd, IOMMU_HWPT_INVALIDATE, cmd));
    return { errno, entry_num: cmd.entry_num };
  };
  return { host, unit, pci, proc, fd, dev, idev, ioas, ram, hva, s1, table, map, writeCd, hwptAlloc, parent, viommu, nested, attach, dma, invalidate };
}

/** vSTE dword 0 of a stage-1 stream whose CD table (linear, one CD) is at CD_IPA: V (bit 0) | Config 0b101 (bits 3:1) | S1ContextPtr (51:6). */
const S1_VSTE0 = CD_IPA | 0xbn;

describe('SMMUv3 through iommufd: IOMMU_GET_HW_INFO', () => {
  it('reports struct iommu_hw_info_arm_smmuv3 with the unit IDR0-5, IIDR and AIDR registers', () => {
    const v = vm();
    const data = v.proc.mmap(4096);
    v.proc.memWrite(data, new Uint8Array(48).fill(0x5a));
    const cmd = { flags: 0, dev_id: v.idev, data_len: 48, data_uptr: data, in_data_type: 0, out_capabilities: 0n } as Record<string, number | bigint>;
    v.proc.ioctl(v.fd, IOMMU_GET_HW_INFO, cmd);
    expect([cmd.out_data_type, cmd.data_len]).toEqual([IOMMU_HW_INFO_TYPE_ARM_SMMUV3, 40]);
    const b = v.proc.memRead(data, 48);
    const dv = new DataView(b.buffer);
    const u32 = (off: number) => dv.getUint32(off, true);
    const hw = v.unit.hw;
    // flags 0 (no erratum), __reserved 0, idr[0..5] at 8, iidr at 32, aidr at 36, then the zeroed tail
    expect([u32(0), u32(4)]).toEqual([0, 0]);
    const regs = [SMMU_REG.IDR0, SMMU_REG.IDR1, SMMU_REG.IDR2, SMMU_REG.IDR3, SMMU_REG.IDR4, SMMU_REG.IDR5, SMMU_REG.IIDR, SMMU_REG.AIDR];
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => u32(8 + 4 * i))).toEqual(regs.map((r) => hw.read32(r)));
    expect([...b.subarray(40)]).toEqual(new Array(8).fill(0));
    // The default unit by hand (IHI0070 6.3): IDR0 = S2P|S1P (0x3) | TTF 2 (0x8) | COHACC (0x10) | ATS (0x400) | ASID16, MSI, SEV
    // (0x7000) | PRI (0x1_0000) | VMID16, CD2L (0xc_0000) | TTENDIAN 2 (0x40_0000) | STALL_MODEL 1, TERM_MODEL, ST_LEVEL 1 (0xd00_0000);
    // IDR1 = SIDSIZE 16 | SSIDSIZE 20 << 6 | PRIQS 7 << 11 | EVENTQS 7 << 16 | CMDQS 8 << 21; IDR3 = RIL (bit 10); IDR5 = OAS 48 (5) | GRAN4K (bit 4)
    expect([u32(8), u32(12), u32(16), u32(20), u32(24), u32(28)]).toEqual([0x0d4d741b, 0x01073d10, 0, 0x400, 0, 0x15]);
    // IIDR: Arm (0x43b) product 0x487 r1p1; AIDR: SMMUv3.1
    expect([u32(32), u32(36)]).toEqual([0x4871143b, 0x01]);
    // No HTTU: no dirty tracking; the device has no ATS; PASIDs: min(8 device bits, SSIDSIZE 20)
    expect([cmd.out_capabilities, cmd.out_max_pasid_log2]).toEqual([IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, 8]);
  });
});

describe('SMMUv3 through iommufd: a nested HWPT from a vSTE on a vIOMMU', () => {
  it('translates IOVA -> IPA -> PA through the guest CD and stage 1; a changed stage-1 entry stays stale until TLBI_NH_VA', () => {
    const v = vm();
    // CD dword 0 by hand (IHI0070 5.4): T0SZ 16 | IR0 1 << 8 | OR0 1 << 10 | SH0 3 << 12 | EPD1 bit 30 | V bit 31 |
    // IPS 5 << 32 | AA64 bit 41 | R bit 45 | A bit 46 | ASID 0x42 << 48; dword 1 = TTB0, the IPA of the stage-1 root
    const cd = new DataView(v.proc.memRead(v.hva(CD_IPA), 32).buffer);
    expect([cd.getBigUint64(0, true), cd.getBigUint64(8, true)]).toEqual([0x0042_6205_c000_3510n, BigInt(v.s1.root) * 4096n]);
    const hwpt = v.nested(S1_VSTE0);
    expect(faults(() => v.dma(IOVA))).toBe(true); // the device is not attached yet
    v.attach(hwpt);
    for (let i = 0n; i < 4n; i++) expect(v.dma(IOVA + i * 4096n + 0x40n)).toBe('A');
    const tlb = v.unit.hw.tlb.cache.stats;
    v.map(1, BUF_B);
    let { hits, misses } = tlb;
    expect(v.dma(IOVA + 0x1040n)).toBe('A');
    expect([tlb.hits - hits, tlb.misses - misses]).toEqual([1, 0]);
    // TLBI_NH_VA by hand: dword 0 = opcode 0x12 | ASID << 48 (the kernel puts in the VMID), dword 1 = the address | Leaf
    const tlbi = (page: bigint): [bigint, bigint] => [TLBI_NH_VA | (BigInt(ASID) << 48n), (IOVA + page * 4096n) | 1n];
    expect(tlbi(1n)).toEqual([0x0042_0000_0000_0012n, 0x7000_1001n]);
    // Another ASID's TLBI leaves it stale
    expect(v.invalidate([[TLBI_NH_VA | (0x43n << 48n), IOVA + 0x1000n]])).toEqual({ errno: 'ok', entry_num: 1 });
    expect(v.dma(IOVA + 0x1040n)).toBe('A');
    expect(v.invalidate([tlbi(1n)])).toEqual({ errno: 'ok', entry_num: 1 });
    ({ hits, misses } = tlb);
    expect(v.dma(IOVA + 0x1040n)).toBe('B');
    expect([tlb.hits - hits, tlb.misses - misses]).toEqual([0, 1]);
    // A range TLBI (IDR3.RIL): NUM 3 (bits 16:12), SCALE 0 -> (3 + 1) << 0 pages of TG 1 (4 KiB, bits 11:10), TTL 3 (bits 9:8)
    for (let i = 0; i < 4; i++) v.map(i, i % 2 ? BUF_A : BUF_B);
    expect([0n, 1n, 2n, 3n].map((i) => v.dma(IOVA + i * 4096n))).toEqual(['A', 'B', 'A', 'A']);
    const range: [bigint, bigint] = [0x0042_0000_0000_3012n, 0x7000_0701n];
    expect(range).toEqual([TLBI_NH_VA | (3n << 12n) | (BigInt(ASID) << 48n), IOVA | (1n << 10n) | (3n << 8n) | 1n]);
    expect(v.invalidate([range])).toEqual({ errno: 'ok', entry_num: 1 });
    expect([0n, 1n, 2n, 3n].map((i) => v.dma(IOVA + i * 4096n))).toEqual(['B', 'A', 'B', 'A']);
    // TLBI_NSNH_ALL (0x30) from the guest becomes TLBI_NH_ALL of the vIOMMU's VMID
    for (let i = 0; i < 4; i++) v.map(i, BUF_B);
    expect(v.invalidate([[0x30n, 0n]])).toEqual({ errno: 'ok', entry_num: 1 });
    expect([0n, 1n, 2n, 3n].map((i) => v.dma(IOVA + i * 4096n))).toEqual(['B', 'B', 'B', 'B']);
  });

  it('a changed CD stays cached until CFGI_CD (vSID -> SID); bad commands give EIO and entry_num, as arm_vsmmu_cache_invalidate counts them', () => {
    const v = vm();
    v.attach(v.nested(S1_VSTE0));
    for (let i = 0n; i < 4n; i++) expect(v.dma(IOVA + i * 4096n)).toBe('A');
    // The guest builds a second stage 1 (every page at B) and switches its CD to it with a new ASID.
    const s1b = v.table();
    for (let i = 0; i < 4; i++) v.map(i, BUF_B, s1b);
    v.writeCd(ASID + 1, s1b.root);
    expect(v.dma(IOVA)).toBe('A');
    // CFGI_CD by hand: opcode 0x05 | SSID 0 | StreamID (the vSID) << 32; dword 1 Leaf
    const cfgiCd: [bigint, bigint] = [CFGI_CD | (VSID << 32n), 1n];
    expect(cfgiCd).toEqual([0x20_0000_0005n, 1n]);
    // A vSID without a vDEVICE: EIO, nothing handled
    expect(v.invalidate([[CFGI_CD | (0x21n << 32n), 1n]])).toEqual({ errno: 'EIO', entry_num: 0 });
    // A good CFGI_CD before a CFGI_STE (not accepted from user space): EIO with entry_num 1, yet the
    // CFGI_CD was only converted, not issued (the batch fails as a whole), so the CD is still stale.
    expect(v.invalidate([cfgiCd, [CFGI_STE | (VSID << 32n), 1n]])).toEqual({ errno: 'EIO', entry_num: 1 });
    expect(v.dma(IOVA)).toBe('A');
    // A TLBI_NH_VA with a bit its format does not define (dword 1 bit 4): EIO
    expect(v.invalidate([[TLBI_NH_VA | (BigInt(ASID) << 48n), IOVA | 0x10n]])).toEqual({ errno: 'EIO', entry_num: 0 });
    // Entries longer than the struct are copied one by one (iommu_copy_struct_from_full_user_array): a non-zero tail is E2BIG
    const long = (tail: number) => {
      const b = new Uint8Array(24);
      b.set(le64(...cfgiCd));
      b[23] = tail;
      const cmd = { hwpt_id: v.viommu, data_uptr: userBytes(v.proc, b), data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 24, entry_num: 1 };
      return [errnoOf(() => v.proc.ioctl(v.fd, IOMMU_HWPT_INVALIDATE, cmd)), cmd.entry_num];
    };
    expect(long(1)).toEqual(['E2BIG', 0]);
    expect(v.dma(IOVA)).toBe('A');
    expect(long(0)).toEqual(['ok', 1]);
    expect([v.dma(IOVA), v.dma(IOVA + 0x3000n)]).toEqual(['B', 'B']);
  });

  it('refuses a vSTE with bits the kernel does not take from user space, or a Config other than abort/bypass/S1, with EIO', () => {
    const v = vm();
    // STE dword 1 bit 19 is MEV, which the kernel sets itself; Config 0b110 is stage 2 translate.
    expect(errnoOf(() => v.nested(S1_VSTE0, 1n << 19n))).toBe('EIO');
    expect(errnoOf(() => v.nested(CD_IPA | (6n << 1n) | 1n))).toBe('EIO');
    // STRW (dword 1 bits 31:30) is not the guest's either
    expect(errnoOf(() => v.nested(S1_VSTE0, 1n << 30n))).toBe('EIO');
    // struct iommu_hwpt_arm_smmuv3 is 16 bytes: 8 or 24 is EINVAL
    expect(errnoOf(() => v.hwptAlloc(v.viommu, 0, IOMMU_HWPT_DATA_ARM_SMMUV3, le64(S1_VSTE0)))).toBe('EINVAL');
    expect(errnoOf(() => v.hwptAlloc(v.viommu, 0, IOMMU_HWPT_DATA_ARM_SMMUV3, le64(S1_VSTE0, 0n, 0n)))).toBe('EINVAL');
    // Nothing was created: the next HWPT gets the ID the failed ones had, and the device still DMAs nowhere
    const next = v.nested(S1_VSTE0);
    expect(next).toBe(v.viommu + 2); // vIOMMU, then its vDEVICE, then this HWPT
    expect(faults(() => v.dma(IOVA))).toBe(true);
    // Abort (V=1, Config 0) and bypass (Config 0b100: the IOVA is the IPA) are accepted
    v.attach(v.nested(1n));
    expect(faults(() => v.dma(IOVA))).toBe(true);
    v.attach(v.nested(0x9n));
    v.pci.dmaWrite(BUF_A, Uint8Array.of(7, 7));
    expect([...v.proc.memRead(v.hva(BUF_A), 2)]).toEqual([7, 7]);
  });
});

describe('SMMUv3 through iommufd: object lifetimes', () => {
  it('needs a vDEVICE to attach a translating vSTE (ENOENT); closing the VFIO device frees the way to destroy every object', () => {
    const v = vm();
    // A second vIOMMU on the same parent, without a vDEVICE: its S1 HWPT cannot be attached
    const bare = { type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: v.idev, hwpt_id: v.parent, out_viommu_id: 0 };
    v.proc.ioctl(v.fd, IOMMU_VIOMMU_ALLOC, bare);
    const orphan = v.hwptAlloc(bare.out_viommu_id, 0, IOMMU_HWPT_DATA_ARM_SMMUV3, le64(S1_VSTE0, 0n));
    expect(errnoOf(() => v.attach(orphan))).toBe('ENOENT');
    const q = { viommu_id: v.viommu, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventq_depth: 4, out_veventq_id: 0, out_veventq_fd: 0 };
    v.proc.ioctl(v.fd, IOMMU_VEVENTQ_ALLOC, q);
    const hwpt = v.nested(S1_VSTE0);
    v.attach(hwpt);
    expect(v.dma(IOVA)).toBe('A');
    const destroy = (id: number) => errnoOf(() => v.proc.ioctl(v.fd, IOMMU_DESTROY, { id }));
    // In use: the attached HWPT, the vIOMMU (HWPT, vEVENTQ, vDEVICE), the parent (vIOMMUs)
    expect([destroy(hwpt), destroy(v.viommu), destroy(v.parent)]).toEqual(['EBUSY', 'EBUSY', 'EBUSY']);
    v.proc.close(v.dev);
    expect(faults(() => v.dma(IOVA))).toBe(true);
    expect([destroy(hwpt), destroy(orphan), destroy(q.out_veventq_id)]).toEqual(['ok', 'ok', 'EBUSY']); // its fd holds it
    v.proc.close(q.out_veventq_fd);
    expect(destroy(q.out_veventq_id)).toBe('ok');
    // The vDEVICE went with the device (a tombstone): the vIOMMUs, then the parent and the IOAS can go
    expect([destroy(v.viommu), destroy(bare.out_viommu_id), destroy(v.parent), destroy(v.ioas)]).toEqual(['ok', 'ok', 'ok', 'ok']);
  });
});

describe('SMMUv3 through iommufd: stage-1 faults in the vEVENTQ', () => {
  /** struct iommufd_vevent_header { u32 flags; u32 sequence; } + struct iommu_vevent_arm_smmuv3 { le64 evt[4]; } */
  function records(b: Uint8Array) {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const out = [];
    for (let off = 0; off < b.length; off += 40) {
      out.push({ flags: dv.getUint32(off, true), sequence: dv.getUint32(off + 4, true), evt: [0, 1, 2, 3].map((i) => dv.getBigUint64(off + 8 + 8 * i, true)) });
    }
    return out;
  }

  it('delivers F_TRANSLATION records with the vSID, in sequence; stage-2 faults stay with the host', () => {
    const v = vm();
    const q = { viommu_id: v.viommu, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventq_depth: 8, out_veventq_id: 0, out_veventq_fd: 0 };
    v.proc.ioctl(v.fd, IOMMU_VEVENTQ_ALLOC, q);
    v.attach(v.nested(S1_VSTE0));
    expect(v.proc.read(q.out_veventq_fd, 4096).length).toBe(0);
    // Stage 1 has no entry for IOVA page 8: a write, then a read, then a write fault (nothing is written)
    const before = v.proc.memRead(v.ram, GUEST_PAGES * 4096);
    const hole = IOVA + 8n * 4096n;
    expect(faults(() => v.pci.dmaWrite(hole, new Uint8Array(16).fill(1)))).toBe(true);
    expect(faults(() => v.pci.dmaRead(hole + 0x1000n, 8))).toBe(true);
    expect(v.proc.memRead(v.ram, GUEST_PAGES * 4096)).toEqual(before);
    expect(faults(() => v.pci.dmaWrite(hole + 0x2000n, Uint8Array.of(1)))).toBe(true);
    // A stage-1 entry pointing outside guest RAM: the stage-2 fault (S2 = 1) is not forwarded
    v.s1.map(Number(hole / 4096n) + 3, Number(IPA / 4096n) + GUEST_PAGES + 5, 3, { write: true, user: true });
    expect(faults(() => v.pci.dmaWrite(hole + 0x3000n, Uint8Array.of(1)))).toBe(true);
    expect(v.unit.hw.lastFault()).toMatchObject({ reasonName: 'F_TRANSLATION', record: { s2: 1 } });
    const recs = records(v.proc.read(q.out_veventq_fd, 4096));
    // By hand (IHI0070 7.3): dword 0 = F_TRANSLATION (0x10) | StreamID = vSID << 32 (SSV 0);
    // dword 1 = CLASS IN (2) << 40 | RnW (bit 35, set for the read); dword 2 = the input address; dword 3 = 0 (no IPA at stage 1)
    expect(recs).toEqual([
      { flags: 0, sequence: 0, evt: [0x20_0000_0010n, 0x200_0000_0000n, 0x7000_8000n, 0n] },
      { flags: 0, sequence: 1, evt: [0x20_0000_0010n, 0x208_0000_0000n, 0x7000_9000n, 0n] },
      { flags: 0, sequence: 2, evt: [0x20_0000_0010n, 0x200_0000_0000n, 0x7000_a000n, 0n] },
    ]);
    // Reads take whole records; the sequence continues
    for (let i = 0; i < 2; i++) expect(faults(() => v.pci.dmaRead(hole + BigInt(i) * 4096n, 4))).toBe(true);
    expect(records(v.proc.read(q.out_veventq_fd, 40 + 39)).map((r) => r.sequence)).toEqual([3]);
    expect(records(v.proc.read(q.out_veventq_fd, 80)).map((r) => r.sequence)).toEqual([4]);
    // Less than a header: EINVAL
    expect(errnoOf(() => v.proc.read(q.out_veventq_fd, 7))).toBe('EINVAL');
  });

  it('a full queue turns further events into one LOST_EVENTS header; a bad CD arrives as C_BAD_CD with the vSID', () => {
    const v = vm();
    const q = { viommu_id: v.viommu, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventq_depth: 2, out_veventq_id: 0, out_veventq_fd: 0 };
    v.proc.ioctl(v.fd, IOMMU_VEVENTQ_ALLOC, q);
    v.attach(v.nested(S1_VSTE0));
    for (let i = 0n; i < 4n; i++) expect(faults(() => v.pci.dmaRead(IOVA + (8n + i) * 4096n, 4))).toBe(true);
    // Two records, then the header alone (flags LOST_EVENTS) carrying the sequence of the last lost one
    const got = v.proc.read(q.out_veventq_fd, 4096);
    expect(got.length).toBe(40 + 40 + 8);
    const dv = new DataView(got.buffer, got.byteOffset);
    expect([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(40, true), dv.getUint32(44, true), dv.getUint32(80, true), dv.getUint32(84, true)]).toEqual([0, 0, 0, 1, 1, 3]);
    // The guest clears CD.V and invalidates it: the next DMA finds a bad CD (C_BAD_CD, 0x0a) for the vSID
    const cd = v.proc.memRead(v.hva(CD_IPA), 8);
    cd[3] = cd[3]! & 0x7f;
    v.proc.memWrite(v.hva(CD_IPA), cd);
    expect(v.invalidate([[CFGI_CD | (VSID << 32n), 1n]])).toEqual({ errno: 'ok', entry_num: 1 });
    expect(faults(() => v.dma(IOVA))).toBe(true);
    const [rec] = records(v.proc.read(q.out_veventq_fd, 4096));
    expect(rec!.sequence).toBe(4);
    expect(rec!.evt[0]).toBe(0x20_0000_000an);
  });
});
