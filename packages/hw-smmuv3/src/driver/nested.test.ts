import {
  IOMMU_CACHE,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_READ,
  IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  IOMMU_WRITE,
  iommuAttachGroupHandle,
  iommuDeviceClaimDmaOwner,
  iommuMap,
  iommuReplaceGroupHandle,
  type IommuDomain,
  type IommuUserDataArray,
  iommu_hwpt_arm_smmuv3,
  iommu_vevent_arm_smmuv3,
} from '@iommu-lab/iommu-core';
import { A64PageTable, DmaFault, type PtMemory } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { DEV_A, DEV_B, FakeViommuCore, MiB, smmuHost, userData } from '../__tests__/host.js';
import { Cd, LINUX_MAIR } from '../format/cd.js';
import { encodeCmd } from '../format/cmd.js';
import { Evt } from '../format/event.js';
import { Ste } from '../format/ste.js';
import type { SmmuDomain } from './domain.js';
import type { ArmVsmmu } from './viommu.js';

const RW = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
const IPA = 0x4000_0000;
const VSID = 0x99n;
const ASID = 0x42;

/** A VM: guest RAM (IPA 0x40000000, 16 MiB) mapped by a nest-parent S2, a vIOMMU, a vDEVICE, and a guest CD + stage 1 in guest RAM. */
function vm(options: Record<string, unknown> = {}) {
  const h = smmuHost(options);
  const a = h.dev(DEV_A);
  iommuDeviceClaimDmaOwner(a, h);
  const parent = h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as SmmuDomain;
  const ram = h.host.frames.alloc(12) * 4096;
  iommuMap(parent, IPA, ram, 16 * MiB, RW);
  const core = new FakeViommuCore();
  const viommu = h.drv.viommuAlloc(a, parent, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, null, core) as ArmVsmmu;
  core.vdevs.set(VSID, a);
  const gpa = (ipa: number) => ipa - IPA + ram;
  const view: PtMemory = { read64: (ipa, out) => h.host.mem.read64(gpa(ipa), out), write64: (ipa, lo, hi) => h.host.mem.write64(gpa(ipa), lo, hi) };
  let next = IPA / 4096 + 16;
  const s1 = new A64PageTable(view, () => next++, { stage: 1, inputBits: 48 });
  const cdIpa = IPA;
  const writeCd = (f: Parameters<typeof Cd.encode>[0]) => Cd.encode(f).forEach((d, i) => h.host.mem.setU64(gpa(cdIpa) + i * 8, d));
  const cd = { t0sz: 16, ir0: 1, or0: 1, sh0: 3, epd1: 1, v: 1, ips: 5, aa64: 1, r: 1, a: 1, asid: ASID, ttb0: BigInt(s1.root * 4096), mair: LINUX_MAIR };
  writeCd(cd);
  const vste = (ste0: bigint, ste1 = 0n) => userData(h.proc, IOMMU_HWPT_DATA_ARM_SMMUV3, iommu_hwpt_arm_smmuv3.encode({ ste: [ste0, ste1] }));
  // V | Config S1 translate (5 << 1) | S1ContextPtr; S1CIR/S1COR WBRA, S1CSH ISH
  const s1vste = () => vste(BigInt(cdIpa) | 0xbn, 0xd4n);
  const pci = h.host.device(DEV_A);
  const inv = (...cmds: [bigint, bigint][]): IommuUserDataArray => {
    const bytes = new Uint8Array(16 * cmds.length);
    const dv = new DataView(bytes.buffer);
    cmds.forEach(([d0, d1], i) => {
      dv.setBigUint64(i * 16, d0, true);
      dv.setBigUint64(i * 16 + 8, d1, true);
    });
    const uptr = h.proc.mmap(Math.max(4096, bytes.length));
    h.proc.memWrite(uptr, bytes);
    return { type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, uptr, entry_len: 16, entry_num: cmds.length, proc: h.proc };
  };
  const attach = (d: IommuDomain) => {
    if (a.group.pasids.size) iommuReplaceGroupHandle(a.group, d, { domain: d });
    else iommuAttachGroupHandle(d, a.group, { domain: d });
  };
  const steOf = () => {
    const at = h.drv.smmu.strtab.steAddr(a.rid);
    return Ste.decode(Array.from({ length: 8 }, (_, i) => h.host.mem.u64(at + i * 8)));
  };
  return { h, a, parent, ram, core, viommu, gpa, s1, cd, writeCd, vste, s1vste, pci, inv, attach, steOf };
}

describe('vIOMMU allocation (arm_vsmmu_init)', () => {
  it('takes the nest parent and its VMID', () => {
    const v = vm();
    expect(v.viommu.type).toBe(IOMMU_VIOMMU_TYPE_ARM_SMMUV3);
    expect(v.viommu.vmid).toBe(v.parent.vmid);
    expect(v.viommu.parent).toBe(v.parent);
    expect(v.viommu.unit).toBe(v.h.unit);
  });

  it('refuses other types, non-nest-parents, and SMMUs that cannot nest', () => {
    const v = vm();
    const core = new FakeViommuCore();
    expect(() => v.h.drv.viommuAlloc(v.a, v.parent, 2, null, core)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    const s1 = v.h.drv.domainAllocUser(v.a, 0, null, null);
    expect(() => v.h.drv.viommuAlloc(v.a, s1, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, null, core)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    // MMU-600 r0p0: erratum 1209401 turns nesting off; so does an MMU-700 before r1p1 (and it forces CMD_SYNC)
    for (const iidr of [0x4830043b, 0x4870043b]) {
      const h = smmuHost({ iidr });
      const d = h.dev(DEV_A);
      expect(() => h.drv.domainAllocUser(d, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    }
    const nocoh = smmuHost({ canwbs: false });
    const p = nocoh.drv.domainAllocUser(nocoh.dev(DEV_A), IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
    expect(() => nocoh.drv.viommuAlloc(nocoh.dev(DEV_A), p, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, null, core)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    const fwb = smmuHost({ canwbs: false, fwb: true });
    const pf = fwb.drv.domainAllocUser(fwb.dev(DEV_A), IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
    expect(fwb.drv.viommuAlloc(fwb.dev(DEV_A), pf, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, null, core)).toBeDefined();
  });
});

describe('nested domains from a vSTE (arm_vsmmu_alloc_domain_nested)', () => {
  it('refuses a vSTE with bits outside the nesting masks, a bad Config or EATS, with EIO', () => {
    const v = vm();
    const eio = expect.objectContaining({ code: 'EIO' });
    const alloc = (ud: ReturnType<typeof v.vste>) => v.h.drv.domainAllocUser(v.a, 0, v.viommu, ud);
    // dword 0 bit 55 (between S1ContextPtr and S1CDMax), dword 1 bit 8 (S2HWU), dword 1 STRW (bit 30)
    expect(() => alloc(v.vste(0xbn | (1n << 55n)))).toThrow(eio);
    expect(() => alloc(v.vste(0xbn, 1n << 8n))).toThrow(eio);
    expect(() => alloc(v.vste(0xbn, 1n << 30n))).toThrow(eio);
    // Config 6 (S2) and 7 (nested) are the host's, 1 is reserved
    for (const cfg of [1n, 6n, 7n]) expect(() => alloc(v.vste(1n | (cfg << 1n)))).toThrow(eio);
    // EATS 2 (split-stage) is not supported
    expect(() => alloc(v.vste(0xbn, 2n << 28n))).toThrow(eio);
    // V=0: anything goes, it becomes an abort STE
    const invalid = alloc(v.vste(0xfffn << 52n, 0xffff_ffffn));
    expect((invalid as unknown as { ste: bigint[] }).ste).toEqual([0n, 0n]);
  });

  it('copies the vSTE with the iommufd rules and refuses flags', () => {
    const v = vm();
    const ud = (type: number, bytes: Uint8Array) => userData(v.h.proc, type, bytes);
    expect(() => v.h.drv.domainAllocUser(v.a, 0, v.viommu, ud(IOMMU_HWPT_DATA_NONE, new Uint8Array(16)))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => v.h.drv.domainAllocUser(v.a, 0, v.viommu, ud(IOMMU_HWPT_DATA_ARM_SMMUV3, new Uint8Array(8)))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    // longer than sizeof(struct iommu_hwpt_arm_smmuv3) is EINVAL in __iommu_copy_struct_from_user
    expect(() => v.h.drv.domainAllocUser(v.a, 0, v.viommu, ud(IOMMU_HWPT_DATA_ARM_SMMUV3, new Uint8Array(24)))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => v.h.drv.domainAllocUser(v.a, IOMMU_HWPT_ALLOC_NEST_PARENT, v.viommu, v.s1vste())).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    const other = vm();
    expect(() => v.h.drv.domainAllocUser(v.a, 0, other.viommu, v.s1vste())).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('a translating vSTE needs a vDEVICE before attach (ENOENT), abort and bypass do not', () => {
    const v = vm();
    v.core.vdevs.clear();
    const nested = v.h.drv.domainAllocUser(v.a, 0, v.viommu, v.s1vste());
    const before = v.steOf();
    expect(() => v.attach(nested)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(v.steOf()).toEqual(before);
    v.attach(v.h.drv.domainAllocUser(v.a, 0, v.viommu, v.vste(1n)));
    expect(v.steOf()).toMatchObject({ v: 1, config: 0 });
    // bypass: the guest's stage 1 is off, the parent's stage 2 still applies
    v.attach(v.h.drv.domainAllocUser(v.a, 0, v.viommu, v.vste(0x9n)));
    expect(v.steOf()).toMatchObject({ config: 6, s2vmid: v.parent.vmid });
    v.pci.dmaWrite(BigInt(IPA + 0x5000), new Uint8Array([0xab]));
    expect(v.h.host.mem.u8(v.ram + 0x5000)).toBe(0xab);
  });
});

describe('a device attached to a nested domain (IOVA -> IPA -> PA)', () => {
  function attached() {
    const v = vm();
    const nested = v.h.drv.domainAllocUser(v.a, 0, v.viommu, v.s1vste());
    expect(nested.type).toBe('nested');
    expect(nested.parent).toBe(v.parent);
    v.attach(nested);
    return { ...v, nested };
  }

  it('installs the physical STE: Config nested, the guest CD pointer, the parent stage 2, MEV', () => {
    const v = attached();
    const p = v.parent.pgtbl.s2Vtcr();
    expect(v.steOf()).toMatchObject({
      v: 1,
      config: 7,
      s1ContextPtr: BigInt(IPA),
      s1cdmax: 0,
      s1cir: 1,
      s1cor: 1,
      s1csh: 3,
      mev: 1,
      eats: 0,
      s2vmid: v.parent.vmid,
      s2t0sz: p.tsz,
      s2sl0: p.sl,
      s2ttb: BigInt(v.parent.pgtbl.rootPfn * 4096),
      s2ptw: 1,
      s2r: 1,
    });
  });

  it('translates DMA through the guest stage 1 and the host stage 2', () => {
    const v = attached();
    v.s1.map(0x10, IPA / 4096 + 0x100, 3, { write: true, user: true });
    v.pci.dmaWrite(0x10_042n, new TextEncoder().encode('nested'));
    expect(new TextDecoder().decode(v.h.host.mem.read(v.ram + 0x10_0042, 6))).toBe('nested');
    expect(new TextDecoder().decode(v.pci.dmaRead(0x10_042n, 6))).toBe('nested');
  });

  it('a changed stage-1 entry is stale until HWPT_INVALIDATE on the vIOMMU with TLBI_NH_VA (VMID rewritten)', () => {
    const v = attached();
    v.s1.map(0x20, IPA / 4096 + 0x200, 3, { write: true, user: true });
    v.pci.dmaWrite(0x20_000n, new Uint8Array([1]));
    v.s1.map(0x20, IPA / 4096 + 0x300, 3, { write: true, user: true });
    v.pci.dmaWrite(0x20_000n, new Uint8Array([2]));
    expect(v.h.host.mem.u8(v.ram + 0x20_0000)).toBe(2);
    expect(v.h.host.mem.u8(v.ram + 0x30_0000)).toBe(0);
    // the guest's VMID field is garbage: the kernel overwrites it with the vIOMMU's
    const array = v.inv(encodeCmd('TLBI_NH_VA', { asid: ASID, vmid: 0x77, leaf: 1, addr: 0x20_000n }));
    v.viommu.cacheInvalidate(array);
    expect(array.entry_num).toBe(1);
    v.pci.dmaWrite(0x20_000n, new Uint8Array([3]));
    expect(v.h.host.mem.u8(v.ram + 0x30_0000)).toBe(3);
  });

  it('delivers a stage-1 fault to the vEVENTQ with the vSID; stage-2 faults stay with the host', () => {
    const v = attached();
    expect(() => v.pci.dmaRead(0x7_0000_0000n, 4)).toThrow(DmaFault);
    expect(v.core.events).toHaveLength(1);
    const { type, data } = v.core.events[0]!;
    expect(type).toBe(IOMMU_VEVENTQ_TYPE_ARM_SMMUV3);
    expect(data.length).toBe(32);
    const e = Evt.decode(iommu_vevent_arm_smmuv3.decode(data).evt);
    expect(e).toMatchObject({ type: 0x10, sid: Number(VSID), s2: 0, class: 2, rnw: 1, addr: 0x7_0000_0000n });
    // stage 1 maps to an IPA stage 2 does not: an S2 fault, not forwarded
    v.s1.map(0x30, IPA / 4096 + 0x2000_0, 3, { write: true, user: true });
    expect(() => v.pci.dmaRead(0x30_000n, 4)).toThrow(DmaFault);
    expect(v.h.hw.lastFault().record).toMatchObject({ s2: 1, class: 2 });
    expect(v.core.events).toHaveLength(1);
    expect(v.h.drv.smmu.log.at(-1)).toMatch(/F_TRANSLATION .* s2 "IN"/);
  });

  it('a bad guest CD is a C_BAD_CD the guest sees; CFGI_CD with the vSID makes a changed CD visible', () => {
    const v = attached();
    v.s1.map(0x40, IPA / 4096 + 0x400, 3, { write: true, user: true });
    v.pci.dmaRead(0x40_000n, 4);
    v.writeCd({ ...v.cd, v: 0 });
    v.pci.dmaRead(0x40_000n, 4);
    v.viommu.cacheInvalidate(v.inv(encodeCmd('CFGI_CD', { sid: Number(VSID), leaf: 1 }), encodeCmd('TLBI_NSNH_ALL')));
    expect(() => v.pci.dmaRead(0x40_000n, 4)).toThrow(DmaFault);
    expect(Evt.decode(iommu_vevent_arm_smmuv3.decode(v.core.events.at(-1)!.data).evt)).toMatchObject({ type: 0x0a, sid: Number(VSID) });
  });

  it('without a vEVENTQ the record is logged by the host', () => {
    const v = attached();
    v.core.veventq = false;
    expect(() => v.pci.dmaRead(0x8_0000_0000n, 4)).toThrow(DmaFault);
    expect(v.h.drv.smmu.log.at(-1)).toMatch(/event: F_TRANSLATION client: 0000:00:01.0/);
  });
});

describe('cache_invalidate on the vIOMMU (arm_vsmmu_cache_invalidate)', () => {
  function setup() {
    const v = vm();
    v.attach(v.h.drv.domainAllocUser(v.a, 0, v.viommu, v.s1vste()));
    v.h.host.trace.enable('smmuv3_cmd');
    const cmds = () => v.h.host.trace.events.filter((e) => e.name === 'smmuv3_cmd').map((e) => e.args as { op: string; d0: string; d1: string });
    return { ...v, cmds };
  }

  it('rewrites the VMID, turns NSNH_ALL into NH_ALL(vmid), translates vSIDs, and syncs', () => {
    const v = setup();
    const vmid = v.parent.vmid.toString(16).padStart(4, '0');
    const a = v.inv(
      encodeCmd('TLBI_NSNH_ALL'),
      encodeCmd('TLBI_NH_ASID', { asid: ASID, vmid: 0xbeef }),
      encodeCmd('ATC_INV', { sid: Number(VSID), size: 52 }),
      encodeCmd('CFGI_CD_ALL', { sid: Number(VSID) }),
    );
    v.viommu.cacheInvalidate(a);
    expect(a.entry_num).toBe(4);
    expect(v.cmds().map((c) => [c.op, c.d0])).toEqual([
      ['TLBI_NH_ALL', `0x0000${vmid}00000010`],
      ['TLBI_NH_ASID', `0x0042${vmid}00000011`],
      ['ATC_INV', '0x0000000800000040'],
      ['CFGI_CD_ALL', '0x0000000800000006'],
      ['CMD_SYNC', expect.stringMatching(/^0x00000000/)],
    ]);
  });

  it('EIO for any other opcode, an unknown vSID or a field the opcode does not define; entry_num counts what was handled', () => {
    const v = setup();
    for (const c of [encodeCmd('CFGI_STE', { sid: 8 }), encodeCmd('TLBI_S2_IPA', { vmid: 1 }), encodeCmd('CMD_SYNC'), encodeCmd('TLBI_S12_VMALL'), encodeCmd('PREFETCH_CONFIG')]) {
      const a = v.inv(c);
      expect(() => v.viommu.cacheInvalidate(a)).toThrow(expect.objectContaining({ code: 'EIO' }));
      expect(a.entry_num).toBe(0);
    }
    const unknown = v.inv(encodeCmd('TLBI_NH_ALL'), encodeCmd('CFGI_CD', { sid: 0x55 }));
    expect(() => v.viommu.cacheInvalidate(unknown)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(unknown.entry_num).toBe(1);
    const ssec = v.inv([encodeCmd('TLBI_NH_ALL')[0] | (1n << 10n), 0n]);
    expect(() => v.viommu.cacheInvalidate(ssec)).toThrow(expect.objectContaining({ code: 'EIO' }));
    // range fields: TG=0 with NUM set is reserved
    const badRange = v.inv(encodeCmd('TLBI_NH_VA', { asid: 1, num: 3, addr: 0x1000n }));
    expect(() => v.viommu.cacheInvalidate(badRange)).toThrow(expect.objectContaining({ code: 'EIO' }));
    // as the kernel counts them, converted commands of the failed block were not issued
    expect(v.cmds()).toEqual([]);
  });

  it('issues blocks of 63 commands, each with a CMD_SYNC', () => {
    const v = setup();
    const many = Array.from({ length: 100 }, (_, i) => encodeCmd('TLBI_NH_VA', { asid: ASID, leaf: 1, addr: BigInt(i * 4096) }));
    const a = v.inv(...many);
    v.viommu.cacheInvalidate(a);
    expect(a.entry_num).toBe(100);
    const ops = v.cmds().map((c) => c.op);
    expect(ops.filter((o) => o === 'TLBI_NH_VA')).toHaveLength(100);
    expect(ops.indexOf('CMD_SYNC')).toBe(63);
    expect(ops.at(-1)).toBe('CMD_SYNC');
    expect(ops.filter((o) => o === 'CMD_SYNC')).toHaveLength(2);
  });

  it('copies entries with iommu_copy_struct_from_full_user_array rules', () => {
    const v = setup();
    const a = v.inv(encodeCmd('TLBI_NH_ALL'));
    expect(() => v.viommu.cacheInvalidate({ ...a, type: 0 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => v.viommu.cacheInvalidate({ ...a, entry_num: 0 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('a second device on the same vIOMMU', () => {
  it('has its own vSID; the S2 parent invalidation covers both', () => {
    const v = vm();
    const b = v.h.dev(DEV_B);
    iommuDeviceClaimDmaOwner(b, v.h);
    v.core.vdevs.set(0x7n, b);
    const d = v.h.drv.domainAllocUser(b, 0, v.viommu, v.s1vste());
    iommuAttachGroupHandle(d, b.group, { domain: d });
    v.attach(v.h.drv.domainAllocUser(v.a, 0, v.viommu, v.s1vste()));
    expect(v.parent.devices.map((x) => x.sid).sort((x, y) => x - y)).toEqual([8, 16]);
    expect(() => v.h.host.device(DEV_B).dmaRead(0x9_0000_0000n, 4)).toThrow(DmaFault);
    expect(Evt.decode(iommu_vevent_arm_smmuv3.decode(v.core.events.at(-1)!.data).evt).sid).toBe(7);
  });
});
