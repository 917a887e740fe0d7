import {
  IOMMU_CACHE,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachGroupHandle,
  iommuDetachGroupHandle,
  iommuDeviceClaimDmaOwner,
  iommuIovaToPhys,
  iommuMap,
  iommuUnmap,
  iommu_hw_info_arm_smmuv3,
  type IommuDomain,
} from '@iommu-lab/iommu-core';
import { DmaFault } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { DEV_A, DEV_B, GiB, MiB, smmuHost, userData } from '../__tests__/host.js';
import { Evt } from '../format/event.js';
import { Ste } from '../format/ste.js';

const RW = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;

function steOf(h: ReturnType<typeof smmuHost>, sid: number) {
  const at = h.drv.smmu.strtab.steAddr(sid);
  return Ste.decode(Array.from({ length: 8 }, (_, i) => h.host.mem.u64(at + i * 8)));
}

function attach(h: ReturnType<typeof smmuHost>, bdf: string, domain: IommuDomain) {
  const dev = h.dev(bdf);
  iommuDeviceClaimDmaOwner(dev, h);
  iommuAttachGroupHandle(domain, dev.group, { domain });
  return dev;
}

describe('probe', () => {
  it('probes PCI devices with their RID as StreamID behind abort STEs (the blocked domain)', () => {
    const h = smmuHost();
    expect(h.devs.map((d) => d.name)).toEqual([DEV_A, DEV_B]);
    const a = h.dev(DEV_A);
    expect(a.rid).toBe(0x08);
    expect(a.group.domain).toBe(h.drv.blockedDomain);
    expect(steOf(h, 0x08)).toMatchObject({ v: 1, config: 0 });
    // maxPasids: the device's 20 PASID bits, capped by SSIDSIZE 20; none without a PASID capability
    expect(a.maxPasids).toBe(2 ** 20);
    expect(h.dev(DEV_B).maxPasids).toBe(0);
    expect(() => h.host.device(DEV_A).dmaRead(0x1000n, 4)).toThrow(DmaFault);
  });

  it('reports the raw IDRs in iommu_hw_info_arm_smmuv3', () => {
    const h = smmuHost({ ssidSize: 16, oas: 44 });
    const info = h.drv.hwInfo(h.dev(DEV_A), 0);
    expect(info.type).toBe(IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
    expect(info.data.length).toBe(40);
    const s = iommu_hw_info_arm_smmuv3.decode(info.data);
    expect(s.idr).toEqual([...h.hw.idr]);
    // IDR1 SSIDSIZE [10:6] = 16; IDR5 OAS [2:0] = 4 (44 bits)
    expect((s.idr[1]! >>> 6) & 0x1f).toBe(16);
    expect(s.idr[5]! & 7).toBe(4);
    expect(s.iidr).toBe(0x4871143b);
    expect(s.aidr).toBe(1);
    expect(() => h.drv.hwInfo(h.dev(DEV_A), 1)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
  });

  it('answers capable() as arm_smmu_capable', () => {
    const h = smmuHost();
    const a = h.dev(DEV_A);
    expect(h.drv.capable(a, 'CACHE_COHERENCY')).toBe(true);
    expect(h.drv.capable(a, 'NOEXEC')).toBe(true);
    expect(h.drv.capable(a, 'DIRTY_TRACKING')).toBe(false);
    expect(h.drv.capable(a, 'PCI_ATS_SUPPORTED')).toBe(true);
    expect(h.drv.capable(h.dev(DEV_B), 'PCI_ATS_SUPPORTED')).toBe(false);
    const d = smmuHost({ httu: 2 });
    expect(d.drv.capable(d.dev(DEV_A), 'DIRTY_TRACKING')).toBe(true);
  });
});

describe('domainAllocUser for paging domains (arm_smmu_domain_alloc_paging_flags)', () => {
  it('picks stage 1 for flags 0 and stage 2 for NEST_PARENT', () => {
    const h = smmuHost();
    const a = h.dev(DEV_A);
    const s1 = h.drv.domainAllocUser(a, 0, null, null);
    const s2 = h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
    expect(s1).toMatchObject({ type: 'paging', stage: 'S1', asid: 1, pgsizes: [4096, 2 * MiB, GiB] });
    expect(s2).toMatchObject({ type: 'paging', stage: 'S2', vmid: 1, nestParent: true });
    expect(s1.geometry.apertureEnd).toBe((1n << 48n) - 1n);
    expect(h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_PASID, null, null)).toMatchObject({ stage: 'S1', asid: 2 });
  });

  it('refuses what the kernel refuses, with its errnos', () => {
    const h = smmuHost();
    const a = h.dev(DEV_A);
    const eop = expect.objectContaining({ code: 'EOPNOTSUPP' });
    expect(() => h.drv.domainAllocUser(a, 1 << 7, null, null)).toThrow(eop);
    expect(() => h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID, null, null)).toThrow(eop);
    expect(() => h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null, null)).toThrow(eop);
    expect(() => h.drv.domainAllocUser(a, 0, null, userData(h.proc, IOMMU_HWPT_DATA_ARM_SMMUV3, new Uint8Array(16)))).toThrow(eop);
    const parent = h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
    expect(() => h.drv.domainAllocUser(a, 0, parent, userData(h.proc, IOMMU_HWPT_DATA_ARM_SMMUV3, new Uint8Array(16)))).toThrow(eop);
    const s2only = smmuHost({ s1p: false });
    expect(() => s2only.drv.domainAllocUser(s2only.dev(DEV_A), IOMMU_HWPT_ALLOC_NEST_PARENT, null, null)).toThrow(eop);
    expect(s2only.drv.domainAllocUser(s2only.dev(DEV_A), 0, null, null)).toMatchObject({ stage: 'S2' });
    // an exhausted ASID space is ENOSPC and leaves nothing allocated
    const small = smmuHost({ asid16: false });
    const sa = small.dev(DEV_A);
    for (let i = 1; i < 256; i++) small.drv.domainAllocUser(sa, 0, null, null);
    const frames = small.host.frames.used;
    expect(() => small.drv.domainAllocUser(sa, 0, null, null)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    expect(small.host.frames.used).toBe(frames);
  });

  it('gives dirty tracking only where HTTU allows, with dirtyOps', () => {
    const h = smmuHost({ httu: 2 });
    const d = h.drv.domainAllocUser(h.dev(DEV_A), IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null, null);
    expect(d.dirtyOps).toBeDefined();
    expect(h.drv.domainAllocUser(h.dev(DEV_A), 0, null, null).dirtyOps).toBeUndefined();
  });
});

describe('a stage-1 paging domain', () => {
  it('translates device DMA with 4 KiB pages, 2 MiB and 1 GiB blocks', () => {
    const h = smmuHost({}, undefined, 4 * GiB);
    const d = h.drv.domainAllocUser(h.dev(DEV_A), 0, null, null);
    attach(h, DEV_A, d);
    expect(steOf(h, 0x08)).toMatchObject({ v: 1, config: 5, s1dss: 2, s1cdmax: 20, s1fmt: 2, eats: 1 });
    const page = h.host.frames.allocFrame() * 4096;
    const big = h.host.frames.alloc(9) * 4096;
    iommuMap(d, 0x10_0000, page, 4096, RW);
    iommuMap(d, 0x4000_0000, big, 2 * MiB, RW);
    iommuMap(d, 0x80_0000_0000, 2 * GiB, GiB, RW);
    const pci = h.host.device(DEV_A);
    pci.dmaWrite(0x10_0123n, new TextEncoder().encode('stage 1'));
    expect(new TextDecoder().decode(h.host.mem.read(page + 0x123, 7))).toBe('stage 1');
    pci.dmaWrite(0x401f_fff0n, new Uint8Array([1, 2, 3]));
    expect([...h.host.mem.read(big + 0x1f_fff0, 3)]).toEqual([1, 2, 3]);
    pci.dmaWrite(0x80_3fff_f000n, new Uint8Array([9]));
    expect(h.host.mem.u8(2 * GiB + 0x3fff_f000)).toBe(9);
    expect(iommuIovaToPhys(d, 0x4010_0000)).toBe(big + 0x10_0000);
    // the 2 MiB block is one TLB entry
    const tlb = [...h.hw.tlb.cache.entries()];
    expect(tlb.find((e) => e.inPfn === 0x4000_0000 / 4096)?.level).toBe(2);
  });

  it('unmap sends TLBI_NH_VA + CMD_SYNC, after which DMA faults with an F_TRANSLATION event', () => {
    const h = smmuHost();
    const d = h.drv.domainAllocUser(h.dev(DEV_A), 0, null, null);
    attach(h, DEV_A, d);
    const page = h.host.frames.allocFrame() * 4096;
    iommuMap(d, 0x2000, page, 4096, RW);
    const pci = h.host.device(DEV_A);
    pci.dmaRead(0x2000n, 4);
    const before = { ...h.hw.cmdq.stats.byOp };
    expect(iommuUnmap(d, 0x2000, 4096)).toBe(4096);
    const after = h.hw.cmdq.stats.byOp;
    expect((after.TLBI_NH_VA ?? 0) - (before.TLBI_NH_VA ?? 0)).toBe(1);
    expect(after.CMD_SYNC! - before.CMD_SYNC!).toBeGreaterThanOrEqual(1);
    // ATS is on for this device: the ATC goes too
    expect((after.ATC_INV ?? 0) - (before.ATC_INV ?? 0)).toBe(1);
    expect(() => pci.dmaRead(0x2000n, 4)).toThrow(DmaFault);
    const fault = h.hw.lastFault();
    expect(fault.reasonName).toBe('F_TRANSLATION');
    expect(Evt.decode((fault.record as { evt: bigint[] }).evt)).toMatchObject({ sid: 8, s2: 0, class: 2, addr: 0x2000n });
    expect(h.drv.smmu.log.at(-1)).toMatch(/event: F_TRANSLATION client: 0000:00:01.0 sid: 0x8/);
  });

  it('detach returns the group to the blocked domain (abort STE) and flushes the ASID', () => {
    const h = smmuHost();
    const d = h.drv.domainAllocUser(h.dev(DEV_B), 0, null, null);
    const dev = attach(h, DEV_B, d);
    iommuMap(d, 0x2000, h.host.frames.allocFrame() * 4096, 4096, RW);
    h.host.device(DEV_B).dmaRead(0x2000n, 4);
    const asidFlushes = h.hw.cmdq.stats.byOp.TLBI_NH_ASID ?? 0;
    iommuDetachGroupHandle(dev.group);
    expect(steOf(h, 0x10)).toMatchObject({ v: 1, config: 0 });
    expect(h.hw.cmdq.stats.byOp.TLBI_NH_ASID).toBe(asidFlushes + 1);
    expect(h.hw.tlb.cache.size).toBe(0);
  });
});

describe('a stage-2 paging domain', () => {
  it('installs an S2 STE (VMID, VTCR, S2TTB) and unmap sends S2_IPA and NH_ALL for a nest parent', () => {
    const h = smmuHost();
    const d = h.drv.domainAllocUser(h.dev(DEV_B), IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
    attach(h, DEV_B, d);
    // arm_smmu_make_s2_domain_ste: S2T0SZ 16 (48-bit IPA), SL0 2 (level 0), IR0/OR0 WBWA, SH0 ISH, S2PS 5, AA64, PTW, R
    expect(steOf(h, 0x10)).toMatchObject({ config: 6, s2vmid: 1, s2t0sz: 16, s2sl0: 2, s2ir0: 1, s2or0: 1, s2sh0: 3, s2ps: 5, s2aa64: 1, s2ptw: 1, s2r: 1, eats: 0 });
    const pa = h.host.frames.alloc(9) * 4096;
    iommuMap(d, 0x20_0000, pa, 2 * MiB, RW);
    h.host.device(DEV_B).dmaWrite(0x20_0008n, new Uint8Array([7]));
    expect(h.host.mem.u8(pa + 8)).toBe(7);
    const before = { ...h.hw.cmdq.stats.byOp };
    iommuUnmap(d, 0x20_0000, 2 * MiB);
    const after = h.hw.cmdq.stats.byOp;
    expect((after.TLBI_S2_IPA ?? 0) - (before.TLBI_S2_IPA ?? 0)).toBe(1);
    expect((after.TLBI_NH_ALL ?? 0) - (before.TLBI_NH_ALL ?? 0)).toBe(1);
    expect(() => h.host.device(DEV_B).dmaRead(0x20_0008n, 1)).toThrow(DmaFault);
  });

  it('without RIL: one TLBI per granule, and TLBI_S12_VMALL from granule/8 granules up', () => {
    const h = smmuHost({ ril: false });
    const d = h.drv.domainAllocUser(h.dev(DEV_B), IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
    attach(h, DEV_B, d);
    const delta = (f: () => void) => {
      const before = { ...h.hw.cmdq.stats.byOp };
      f();
      const after = h.hw.cmdq.stats.byOp;
      return ['TLBI_S2_IPA', 'TLBI_S12_VMALL', 'TLBI_NH_ALL'].map((k) => (after[k] ?? 0) - (before[k] ?? 0));
    };
    // 4 pages of 4 KiB: four S2_IPA, then NH_ALL for the nested stage-1 entries
    iommuMap(d, 4 * MiB, h.host.frames.alloc(2) * 4096, 16 * 1024, RW);
    expect(delta(() => iommuUnmap(d, 4 * MiB, 16 * 1024))).toEqual([4, 0, 1]);
    // one 2 MiB block: one S2_IPA with a 2 MiB granule
    iommuMap(d, 0, h.host.frames.alloc(9) * 4096, 2 * MiB, RW);
    expect(delta(() => iommuUnmap(d, 0, 2 * MiB))).toEqual([1, 0, 1]);
    // 512 pages of 4 KiB (the PA is not 2 MiB aligned), unmapped as one 2 MiB IOVA: the level-3 table goes,
    // its walk flush covers 512 granules of 4 KiB >= 4096 / 8 (S12_VMALL), then the leaf flush at 2 MiB
    iommuMap(d, 8 * MiB, h.host.frames.alloc(10) * 4096 + 4096, 2 * MiB, RW);
    expect(delta(() => iommuUnmap(d, 8 * MiB, 2 * MiB))).toEqual([1, 1, 1]);
  });
});
