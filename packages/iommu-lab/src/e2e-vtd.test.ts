// Issue 5 end to end: Intel VT-d under iommufd and the VFIO cdev, the way a VMM drives nested translation.
import type { VtdUnit } from '@iommu-lab/hw-vtd';
import { DMAR_CAP_REG, DMAR_ECAP_REG } from '@iommu-lab/hw-vtd/format';
import {
  IOMMU_DESTROY,
  IOMMU_GET_HW_INFO,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_PASID,
} from '@iommu-lab/iommu-core';
import { errnoOf, type PciDevice, type PtMemory, U64_MAX, X86PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { createHost } from './create-host.js';
import { faults, userBytes } from './__tests__/helpers.js';

const BDF = '0000:03:00.0';
const BDF_ATS = '0000:04:00.0';
/** Guest RAM: 64 pages at GPA 1 GiB, which is also their IOVA in the IOAS (the stage 2 maps GPA -> HPA). */
const GPA = 0x4000_0000n;
const GUEST_PAGES = 64;
/** Guest RAM pages the guest's DMA buffers use (below them: its first-stage tables). */
const BUF_A = GPA + 32n * 4096n;
const BUF_B = GPA + 48n * 4096n;
/** The guest's IOVA (GIOVA) space: 4 pages at 128 GiB. */
const GIOVA = 0x20_0000_0000n;
const RW = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;




/** A VMM's view: /dev/iommu, a bound VFIO device, an IOAS holding guest RAM, and the guest's first-stage table in that RAM. */
function vm() {
  const host = createHost({ memory: '256M', iommus: [{ id: 'dmar0', model: 'intel-vtd' }], devices: [{ bdf: BDF, iommu: 'dmar0', pasidBits: 8 }, { bdf: BDF_ATS, iommu: 'dmar0', pasidBits: 20, ats: true }] });
  const unit = host.iommu.unit('dmar0') as VtdUnit;
  const pci: PciDevice = host.device(BDF);
  const proc = host.spawnProcess();
  const fd = proc.open('/dev/iommu');
  const bind = (p: PciDevice) => {
    const dev = proc.open(p.cdevPath!);
    const b = { argsz: 24, iommufd: fd, out_devid: 0 };
    proc.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, b);
    return { dev, idev: b.out_devid };
  };
  const { dev, idev } = bind(pci);
  const ioasCmd = { out_ioas_id: 0 };
  proc.ioctl(fd, IOMMU_IOAS_ALLOC, ioasCmd);
  const ioas = ioasCmd.out_ioas_id;
  const ram = proc.mmap(GUEST_PAGES * 4096);
  proc.ioctl(fd, IOMMU_IOAS_MAP, { flags: RW, ioas_id: ioas, user_va: ram, length: BigInt(GUEST_PAGES * 4096), iova: GPA });
  const hva = (gpa: bigint) => ram + (gpa - GPA);
  // The guest writes its tables into its RAM (here: the VMM process's memory that backs it).
  const view: PtMemory = {
    read64(gpa, out) {
      const dv = new DataView(proc.memRead(hva(BigInt(gpa)), 8).buffer);
      out[0] = dv.getUint32(0, true);
      out[1] = dv.getUint32(4, true);
      return true;
    },
    write64(gpa, lo, hi) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setUint32(0, lo, true);
      new DataView(b.buffer).setUint32(4, hi, true);
      proc.memWrite(hva(BigInt(gpa)), b);
      return true;
    },
  };
  let nextTable = Number(GPA / 4096n);
  const fs = new X86PageTable(view, () => nextTable++, 4);
  /** GIOVA page i -> the guest buffer page at `buf`, user and writable, A and D set. */
  const map = (i: number, buf: bigint) => fs.map(Number(GIOVA / 4096n) + i, Number(buf / 4096n) + i, 1, { write: true, user: true, accessed: true, dirty: true });
  for (let i = 0; i < 4; i++) map(i, BUF_A);
  const hwptAlloc = (ptId: number, flags: number, dataType = IOMMU_HWPT_DATA_NONE, data?: Uint8Array) => {
    const cmd = { flags, dev_id: idev, pt_id: ptId, out_hwpt_id: 0, data_type: dataType, data_len: data?.length ?? 0, data_uptr: data ? userBytes(proc, data) : 0n };
    proc.ioctl(fd, IOMMU_HWPT_ALLOC, cmd);
    return cmd.out_hwpt_id;
  };
  // struct iommu_hwpt_vtd_s1 { u64 flags; u64 pgtbl_addr; u32 addr_width; u32 __reserved; }: the GPA of the PML4.
  const s1Data = () => {
    const b = new Uint8Array(24);
    new DataView(b.buffer).setBigUint64(8, BigInt(fs.root) * 4096n, true);
    new DataView(b.buffer).setUint32(16, 48, true);
    return b;
  };
  const nested = (parent: number, flags = 0) => hwptAlloc(parent, flags, IOMMU_HWPT_DATA_VTD_S1, s1Data());
  const attach = (pt: number, pasid?: number) =>
    proc.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, pasid === undefined ? { argsz: 12, pt_id: pt } : { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pt_id: pt, pasid });
  /** The device writes 24 random bytes at giova; which guest buffer (relative to its page) got them. */
  const dma = (giova: bigint, pasid?: number): 'A' | 'B' | 'none' => {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const off = giova - GIOVA;
    pci.dmaWrite(giova, bytes, { pasid });
    const at = (buf: bigint) => Buffer.from(proc.memRead(hva(buf + off), 24)).equals(bytes);
    return at(BUF_A) ? 'A' : at(BUF_B) ? 'B' : 'none';
  };
  /** IOMMU_HWPT_INVALIDATE with struct iommu_hwpt_vtd_s1_invalidate entries { addr, npages, flags, __reserved } laid out by hand. */
  const invalidate = (hwpt: number, entries: [bigint, bigint, number?, number?][], dataType = IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) => {
    const b = new Uint8Array(24 * entries.length);
    const dv = new DataView(b.buffer);
    entries.forEach(([addr, npages, flags = 0, reserved = 0], i) => {
      dv.setBigUint64(i * 24, addr, true);
      dv.setBigUint64(i * 24 + 8, npages, true);
      dv.setUint32(i * 24 + 16, flags, true);
      dv.setUint32(i * 24 + 20, reserved, true);
    });
    const cmd = { hwpt_id: hwpt, data_uptr: userBytes(proc, b), data_type: dataType, entry_len: 24, entry_num: entries.length };
    const errno = errnoOf(() => proc.ioctl(fd, IOMMU_HWPT_INVALIDATE, cmd));
    return { errno, entry_num: cmd.entry_num };
  };
  return { host, unit, pci, proc, fd, dev, idev, ioas, ram, hva, fs, map, bind, hwptAlloc, nested, attach, dma, invalidate };
}

describe('VT-d through iommufd: IOMMU_GET_HW_INFO', () => {
  it('reports struct iommu_hw_info_vtd with the unit CAP/ECAP registers and the SPR17 erratum, the device capabilities and PASID width', () => {
    const v = vm();
    const data = v.proc.mmap(4096);
    v.proc.memWrite(data, new Uint8Array(32).fill(0xa5));
    const cmd = { flags: 0, dev_id: v.idev, data_len: 32, data_uptr: data, in_data_type: 0, out_capabilities: 0n } as Record<string, number | bigint>;
    v.proc.ioctl(v.fd, IOMMU_GET_HW_INFO, cmd);
    expect(cmd.out_data_type).toBe(IOMMU_HW_INFO_TYPE_INTEL_VTD);
    expect(cmd.data_len).toBe(24);
    const b = v.proc.memRead(data, 32);
    const dv = new DataView(b.buffer);
    // flags (u32) = ERRATA_772415_SPR17 (bit 0), __reserved, cap_reg at 8, ecap_reg at 16; the rest of the buffer zeroed
    expect(dv.getUint32(0, true)).toBe(1);
    expect(dv.getUint32(4, true)).toBe(0);
    const cap = dv.getBigUint64(8, true);
    const ecap = dv.getBigUint64(16, true);
    expect(cap).toBe(v.unit.hw.read64(DMAR_CAP_REG));
    expect(ecap).toBe(v.unit.hw.read64(DMAR_ECAP_REG));
    expect([...b.subarray(24)]).toEqual(new Array(8).fill(0));
    // The default unit by hand: CAP.SAGAW (12:8) = 0b00110 (39- and 48-bit), MGAW (21:16) = 47, FS1GP (56) = 1;
    // ECAP.NEST (26), SMTS (43), SSADS (45), SSTS (46), FSTS (47) set, PSS (39:35) = 19 (20-bit PASIDs)
    expect([(cap >> 8n) & 0x1fn, (cap >> 16n) & 0x3fn, (cap >> 56n) & 1n]).toEqual([0b00110n, 47n, 1n]);
    expect([26n, 43n, 45n, 46n, 47n].map((bit) => (ecap >> bit) & 1n)).toEqual([1n, 1n, 1n, 1n, 1n]);
    expect((ecap >> 35n) & 0x1fn).toBe(19n);
    // SSADS: dirty tracking; no ATS capability on this device; PASID width min(8 device bits, 20 unit bits)
    expect(cmd.out_capabilities).toBe(IOMMU_HW_CAP_DIRTY_TRACKING | IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED);
    expect(cmd.out_max_pasid_log2).toBe(8);
    // A buffer smaller than the struct gets its first data_len bytes and nothing else; data_len still says 24
    v.proc.memWrite(data, new Uint8Array(32).fill(0xa5));
    const short = { flags: 0, dev_id: v.idev, data_len: 8, data_uptr: data, in_data_type: 0, out_capabilities: 0n } as Record<string, number | bigint>;
    v.proc.ioctl(v.fd, IOMMU_GET_HW_INFO, short);
    expect(short.data_len).toBe(24);
    expect([...v.proc.memRead(data, 12)]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0xa5, 0xa5, 0xa5, 0xa5]);
    // A device with ATS (ECAP.DT is set) and 20 PASID bits
    const ats = v.bind(v.host.device(BDF_ATS));
    const cmd2 = { flags: 0, dev_id: ats.idev, data_len: 0, data_uptr: 0n, in_data_type: 0, out_capabilities: 0n } as Record<string, number | bigint>;
    v.proc.ioctl(v.fd, IOMMU_GET_HW_INFO, cmd2);
    expect([cmd2.out_data_type, cmd2.data_len, cmd2.out_capabilities, cmd2.out_max_pasid_log2]).toEqual([IOMMU_HW_INFO_TYPE_INTEL_VTD, 24, IOMMU_HW_CAP_DIRTY_TRACKING, 20]);
  });
});

describe('VT-d through iommufd: a nested HWPT over a guest first-stage table', () => {
  it('translates GIOVA -> GPA -> HPA; a changed first-stage entry stays stale in the IOTLB until IOMMU_HWPT_INVALIDATE', () => {
    const v = vm();
    const parent = v.hwptAlloc(v.ioas, IOMMU_HWPT_ALLOC_NEST_PARENT);
    const hwpt = v.nested(parent);
    expect(faults(() => v.dma(GIOVA))).toBe(true); // nothing attached yet: blocked
    v.attach(hwpt);
    for (let i = 0n; i < 4n; i++) expect(v.dma(GIOVA + i * 4096n + 0x10n)).toBe('A');
    const iotlb = v.unit.hw.tlbs.iotlb.stats;
    // The guest points GIOVA page 1 at buffer B and does not invalidate: the IOTLB keeps serving page A.
    v.map(1, BUF_B);
    let { hits, misses } = iotlb;
    expect(v.dma(GIOVA + 0x1008n)).toBe('A');
    expect([iotlb.hits - hits, iotlb.misses - misses]).toEqual([1, 0]);
    // Page-selective: addr = the GIOVA page, npages 1; the next DMA walks the tables again.
    expect(v.invalidate(hwpt, [[GIOVA + 0x1000n, 1n]])).toEqual({ errno: 'ok', entry_num: 1 });
    ({ hits, misses } = iotlb);
    expect(v.dma(GIOVA + 0x1008n)).toBe('B');
    expect([iotlb.hits - hits, iotlb.misses - misses]).toEqual([0, 1]);
    // A page-selective flush of page 1 leaves page 2 stale; addr 0 with npages U64_MAX flushes everything.
    v.map(2, BUF_B);
    v.map(3, BUF_B);
    expect(v.invalidate(hwpt, [[GIOVA + 0x1000n, 1n, 1]])).toEqual({ errno: 'ok', entry_num: 1 }); // LEAF
    expect([v.dma(GIOVA + 0x2000n), v.dma(GIOVA + 0x3000n)]).toEqual(['A', 'A']);
    expect(v.invalidate(hwpt, [[0n, U64_MAX]])).toEqual({ errno: 'ok', entry_num: 1 });
    expect([v.dma(GIOVA + 0x2000n), v.dma(GIOVA + 0x3000n), v.dma(GIOVA)]).toEqual(['B', 'B', 'A']);
    // Two pages from page 1 (not a power-of-two-aligned range: the PSI mask widens it) reach pages 1 and 2.
    expect(v.dma(GIOVA + 0x1000n)).toBe('B');
    v.map(1, BUF_A);
    v.map(2, BUF_A);
    expect([v.dma(GIOVA + 0x1000n), v.dma(GIOVA + 0x2000n)]).toEqual(['B', 'B']);
    expect(v.invalidate(hwpt, [[GIOVA + 0x1000n, 2n]])).toEqual({ errno: 'ok', entry_num: 1 });
    expect([v.dma(GIOVA + 0x1000n), v.dma(GIOVA + 0x2000n)]).toEqual(['A', 'A']);
    // A GIOVA the guest never mapped faults and writes nothing.
    const before = v.proc.memRead(v.ram, GUEST_PAGES * 4096);
    expect(faults(() => v.dma(GIOVA + 0x4000n))).toBe(true);
    expect(v.proc.memRead(v.ram, GUEST_PAGES * 4096)).toEqual(before);
  });

  it('IOMMU_HWPT_INVALIDATE stops at the first bad entry, writes back the number handled, and gives the kernel errnos', () => {
    const v = vm();
    const hwpt = v.nested(v.hwptAlloc(v.ioas, IOMMU_HWPT_ALLOC_NEST_PARENT));
    v.attach(hwpt);
    for (let i = 0n; i < 4n; i++) expect(v.dma(GIOVA + i * 4096n)).toBe('A');
    for (let i = 0; i < 4; i++) v.map(i, BUF_B);
    // entry 0 (page 0) is handled, entry 1 has an unknown flag (bit 1): EOPNOTSUPP, entry_num 1
    expect(v.invalidate(hwpt, [[GIOVA, 1n], [GIOVA + 0x1000n, 1n, 2], [GIOVA + 0x2000n, 1n]])).toEqual({ errno: 'EOPNOTSUPP', entry_num: 1 });
    expect([v.dma(GIOVA), v.dma(GIOVA + 0x1000n), v.dma(GIOVA + 0x2000n)]).toEqual(['B', 'A', 'A']);
    // __reserved non-zero: EOPNOTSUPP before anything
    expect(v.invalidate(hwpt, [[GIOVA + 0x1000n, 1n, 0, 1]])).toEqual({ errno: 'EOPNOTSUPP', entry_num: 0 });
    // addr not 4 KiB aligned, or npages U64_MAX with a non-zero addr: EINVAL
    expect(v.invalidate(hwpt, [[GIOVA + 0x1000n, 1n], [GIOVA + 0x2800n, 1n]])).toEqual({ errno: 'EINVAL', entry_num: 1 });
    expect(v.invalidate(hwpt, [[GIOVA, U64_MAX]])).toEqual({ errno: 'EINVAL', entry_num: 0 });
    expect([v.dma(GIOVA + 0x1000n), v.dma(GIOVA + 0x2000n)]).toEqual(['B', 'A']);
    // entry_len other than the struct's: EINVAL (__iommu_copy_struct_from_user), a zero tail included
    const raw = (len: number, tail: number) => {
      const b = new Uint8Array(len);
      new DataView(b.buffer).setBigUint64(0, GIOVA + 0x2000n, true);
      new DataView(b.buffer).setBigUint64(8, 1n, true);
      b[len - 1] = tail;
      const cmd = { hwpt_id: hwpt, data_uptr: userBytes(v.proc, b), data_type: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, entry_len: len, entry_num: 1 };
      return [errnoOf(() => v.proc.ioctl(v.fd, IOMMU_HWPT_INVALIDATE, cmd)), cmd.entry_num];
    };
    expect(raw(16, 0)).toEqual(['EINVAL', 0]);
    expect(raw(32, 0)).toEqual(['EINVAL', 0]);
    expect(v.dma(GIOVA + 0x2000n)).toBe('A');
    // Only nested HWPTs and vIOMMUs take invalidations: the nest parent is EINVAL
    expect(v.invalidate(v.hwptAlloc(v.ioas, IOMMU_HWPT_ALLOC_NEST_PARENT), [[GIOVA, 1n]]).errno).toBe('EINVAL');
    // Another vendor's data type: EINVAL, nothing handled
    expect(v.invalidate(hwpt, [[GIOVA + 0x2000n, 1n]], IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3)).toEqual({ errno: 'EINVAL', entry_num: 0 });
    expect(v.dma(GIOVA + 0x2000n)).toBe('A');
    // entry_num 0 is a no-op that succeeds
    expect(v.invalidate(hwpt, [])).toEqual({ errno: 'ok', entry_num: 0 });
  });

  it('checks the nested HWPT the way nested.c and intel_pasid_setup_nested do, and a failed attach keeps the old domain', () => {
    const v = vm();
    const parent = v.hwptAlloc(v.ioas, IOMMU_HWPT_ALLOC_NEST_PARENT);
    const s1 = (flags: bigint, width: number, len = 24) => {
      const b = new Uint8Array(32);
      const dv = new DataView(b.buffer);
      dv.setBigUint64(0, flags, true);
      dv.setBigUint64(8, BigInt(v.fs.root) * 4096n, true);
      dv.setUint32(16, width, true);
      return b.subarray(0, len);
    };
    const alloc = (pt: number, data: Uint8Array) => errnoOf(() => v.hwptAlloc(pt, 0, IOMMU_HWPT_DATA_VTD_S1, data));
    // A parent without NEST_PARENT: EINVAL; data shorter or longer than struct iommu_hwpt_vtd_s1 (even with a zero
    // tail): EINVAL, as __iommu_copy_struct_from_user bounds the length before copy_struct_from_user
    expect(alloc(v.hwptAlloc(v.ioas, 0), s1(0n, 48))).toBe('EINVAL');
    expect(alloc(parent, s1(0n, 48, 16))).toBe('EINVAL');
    expect(alloc(parent, s1(0n, 48, 32))).toBe('EINVAL');
    // The unit has no FS5LP and no EAFS: a 57-bit table or EAFE fails at attach; the device stays on the parent's stage 2.
    v.attach(parent);
    const wide = v.hwptAlloc(parent, 0, IOMMU_HWPT_DATA_VTD_S1, s1(0n, 57));
    const eafe = v.hwptAlloc(parent, 0, IOMMU_HWPT_DATA_VTD_S1, s1(2n, 48));
    expect([errnoOf(() => v.attach(wide)), errnoOf(() => v.attach(eafe))]).toEqual(['EINVAL', 'EINVAL']);
    v.pci.dmaWrite(BUF_B, Uint8Array.of(9));
    expect(v.proc.memRead(v.hva(BUF_B), 1)[0]).toBe(9);
    expect(faults(() => v.dma(GIOVA))).toBe(true);
  });

  it('attaches a nested HWPT (allocated with IOMMU_HWPT_ALLOC_PASID) at a PASID: only that PASID translates, and its IOTLB entries flush too', () => {
    const v = vm();
    const parent = v.hwptAlloc(v.ioas, IOMMU_HWPT_ALLOC_NEST_PARENT);
    // Without IOMMU_HWPT_ALLOC_PASID the HWPT is not PASID-compatible (iommufd_hwpt_pasid_compat): EINVAL
    const plain = v.nested(parent);
    expect(errnoOf(() => v.attach(plain, 5))).toBe('EINVAL');
    const hwpt = v.nested(parent, IOMMU_HWPT_ALLOC_PASID);
    v.attach(hwpt, 5);
    expect(v.dma(GIOVA + 0x2040n, 5)).toBe('A');
    expect(faults(() => v.dma(GIOVA, 6))).toBe(true);
    expect(faults(() => v.dma(GIOVA))).toBe(true); // requests without PASID: nothing attached to the RID
    v.map(2, BUF_B);
    expect(v.dma(GIOVA + 0x2040n, 5)).toBe('A');
    expect(v.invalidate(hwpt, [[GIOVA + 0x2000n, 1n]])).toEqual({ errno: 'ok', entry_num: 1 });
    expect(v.dma(GIOVA + 0x2040n, 5)).toBe('B');
    v.proc.ioctl(v.dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 12, flags: VFIO_DEVICE_DETACH_PASID, pasid: 5 });
    expect(faults(() => v.dma(GIOVA + 0x2040n, 5))).toBe(true);
  });
});

describe('VT-d through iommufd: object lifetimes', () => {
  it('keeps attached and parent HWPTs busy (a replaced one is free); closing the VFIO device releases them', () => {
    const v = vm();
    const parent = v.hwptAlloc(v.ioas, IOMMU_HWPT_ALLOC_NEST_PARENT);
    // With PASIDs in use, the RID's HWPT must be PASID-compatible too (iommufd_hwpt_pasid_compat)
    const hwpt = v.nested(parent);
    v.attach(hwpt);
    const pasidHwpt = v.nested(parent, IOMMU_HWPT_ALLOC_PASID);
    expect(errnoOf(() => v.attach(pasidHwpt, 3))).toBe('EINVAL');
    const ridHwpt = v.nested(parent, IOMMU_HWPT_ALLOC_PASID);
    v.attach(ridHwpt);
    v.attach(pasidHwpt, 3);
    expect([v.dma(GIOVA), v.dma(GIOVA, 3)]).toEqual(['A', 'A']);
    const destroy = (id: number) => errnoOf(() => v.proc.ioctl(v.fd, IOMMU_DESTROY, { id }));
    expect([destroy(hwpt), destroy(ridHwpt), destroy(pasidHwpt), destroy(parent), destroy(v.ioas)]).toEqual(['ok', 'EBUSY', 'EBUSY', 'EBUSY', 'EBUSY']);
    v.proc.close(v.dev);
    expect([faults(() => v.dma(GIOVA)), faults(() => v.dma(GIOVA, 3))]).toEqual([true, true]);
    expect([destroy(ridHwpt), destroy(pasidHwpt), destroy(parent), destroy(v.ioas)]).toEqual(['ok', 'ok', 'ok', 'ok']);
  });
});

describe('VT-d through iommufd: ERRATA_772415_SPR17', () => {
  it('refuses a read-only IOAS_MAP into an IOAS whose nest-parent HWPT is attached (EINVAL), leaving the IOAS as it was', () => {
    const v = vm();
    const parent = v.hwptAlloc(v.ioas, IOMMU_HWPT_ALLOC_NEST_PARENT);
    v.attach(parent);
    const buf = v.proc.mmap(2 * 4096);
    const IOVA = 0x8000_0000n;
    const ro = { flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE, ioas_id: v.ioas, user_va: buf, length: 8192n, iova: IOVA };
    expect(errnoOf(() => v.proc.ioctl(v.fd, IOMMU_IOAS_MAP, ro))).toBe('EINVAL');
    // Nothing was mapped: unmapping the range finds no area, and the device cannot reach it
    expect(errnoOf(() => v.proc.ioctl(v.fd, IOMMU_IOAS_UNMAP, { ioas_id: v.ioas, iova: IOVA, length: 8192n }))).toBe('ENOENT');
    expect(faults(() => v.pci.dmaRead(IOVA, 8))).toBe(true);
    // Read-write is fine at the same IOVA; the device (on the parent's stage 2 alone) reads and writes there
    v.proc.ioctl(v.fd, IOMMU_IOAS_MAP, { ...ro, flags: RW });
    v.pci.dmaWrite(IOVA + 0x1000n, Uint8Array.of(1, 2, 3));
    expect([...v.proc.memRead(buf + 0x1000n, 3)]).toEqual([1, 2, 3]);
    // A read-only area already in the IOAS keeps a nest parent from being created on it at all
    const w = vm();
    w.proc.ioctl(w.fd, IOMMU_IOAS_MAP, { ...ro, ioas_id: w.ioas, user_va: w.proc.mmap(8192) });
    expect(errnoOf(() => w.hwptAlloc(w.ioas, IOMMU_HWPT_ALLOC_NEST_PARENT))).toBe('EINVAL');
    // ... while a plain paging HWPT takes read-only mappings: reads work, writes fault
    const plain = w.hwptAlloc(w.ioas, 0);
    w.attach(plain);
    expect(w.pci.dmaRead(IOVA, 4)).toEqual(new Uint8Array(4));
    expect(faults(() => w.pci.dmaWrite(IOVA, Uint8Array.of(1)))).toBe(true);
  });
});
