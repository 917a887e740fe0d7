import {
  IOMMU_CACHE,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachDevicePasid,
  iommuAttachGroupHandle,
  iommuDetachDevicePasid,
  iommuDetachGroupHandle,
  iommuDeviceClaimDmaOwner,
  iommuMap,
  iommuReplaceGroupHandle,
} from '@iommu-lab/iommu-core';
import { DmaFault } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { DEV_A, DEV_B, smmuHost } from '../__tests__/host.js';
import { Ste } from '../format/ste.js';

const RW = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;

function setup(options: Record<string, unknown> = {}) {
  const h = smmuHost(options);
  const a = h.dev(DEV_A);
  iommuDeviceClaimDmaOwner(a, h);
  const ste = () => {
    const at = h.drv.smmu.strtab.steAddr(a.rid);
    return Ste.decode(Array.from({ length: 8 }, (_, i) => h.host.mem.u64(at + i * 8)));
  };
  return { h, a, ste, pci: h.host.device(DEV_A) };
}

describe('PASIDs (set_dev_pasid)', () => {
  it('a PASID on a blocked RID: CD table STE with S1DSS=terminate; RID DMA aborts, PASID DMA translates', () => {
    const { h, a, ste, pci } = setup();
    const d = h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_PASID, null, null);
    const page = h.host.frames.allocFrame() * 4096;
    iommuMap(d, 0x3000, page, 4096, RW);
    iommuAttachDevicePasid(d, a, 5, { domain: d });
    expect(ste()).toMatchObject({ config: 5, s1dss: 0, s1cdmax: 20 });
    pci.dmaWrite(0x3004n, new Uint8Array([0x55]), { pasid: 5 });
    expect(h.host.mem.u8(page + 4)).toBe(0x55);
    expect(() => pci.dmaRead(0x3000n, 1)).toThrow(DmaFault);
    expect(h.hw.lastFault().reasonName).toBe('F_STREAM_DISABLED');
    // another PASID has no CD: C_BAD_CD
    expect(() => pci.dmaRead(0x3000n, 1, { pasid: 6 })).toThrow(DmaFault);
    expect(h.hw.lastFault().reasonName).toBe('C_BAD_CD');
    // the last PASID gone: the STE goes back to abort
    iommuDetachDevicePasid(d, a, 5);
    expect(ste()).toMatchObject({ config: 0 });
    expect(h.drv.smmu.streams.get(a.rid)!.cdTable!.usedSsids).toBe(0);
  });

  it('PASIDs beside an identity RID use S1DSS=bypass', () => {
    const { h, a, ste, pci } = setup();
    iommuAttachGroupHandle(h.drv.identityDomain, a.group, { domain: h.drv.identityDomain });
    expect(ste()).toMatchObject({ config: 4 });
    pci.dmaWrite(0x1_0000n, new Uint8Array([1]));
    expect(h.host.mem.u8(0x1_0000)).toBe(1);
    const d = h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_PASID, null, null);
    iommuAttachDevicePasid(d, a, 9, { domain: d });
    expect(ste()).toMatchObject({ config: 5, s1dss: 1 });
    pci.dmaWrite(0x1_0000n, new Uint8Array([2]));
    expect(h.host.mem.u8(0x1_0000)).toBe(2);
  });

  it('a stage-1 RID domain keeps SSID 0 in CD 0 and PASIDs beside it; a stage-2 RID refuses PASIDs', () => {
    const { h, a, ste, pci } = setup();
    const rid = h.drv.domainAllocUser(a, 0, null, null);
    const pas = h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_PASID, null, null);
    iommuAttachGroupHandle(rid, a.group, { domain: rid });
    const p1 = h.host.frames.allocFrame() * 4096;
    const p2 = h.host.frames.allocFrame() * 4096;
    iommuMap(rid, 0x5000, p1, 4096, RW);
    iommuMap(pas, 0x5000, p2, 4096, RW);
    iommuAttachDevicePasid(pas, a, 3, { domain: pas });
    expect(ste()).toMatchObject({ config: 5, s1dss: 2 });
    pci.dmaWrite(0x5000n, new Uint8Array([7]));
    pci.dmaWrite(0x5000n, new Uint8Array([8]), { pasid: 3 });
    expect([h.host.mem.u8(p1), h.host.mem.u8(p2)]).toEqual([7, 8]);
    // S2 for the RID while a PASID is in use: EBUSY, and nothing changed
    const s2 = h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
    expect(() => iommuReplaceGroupHandle(a.group, s2, { domain: s2 })).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(ste()).toMatchObject({ config: 5, s1dss: 2 });
    iommuDetachDevicePasid(pas, a, 3);
    iommuReplaceGroupHandle(a.group, s2, { domain: s2 });
    expect(ste()).toMatchObject({ config: 6 });
    expect(() => iommuAttachDevicePasid(pas, a, 4, { domain: pas })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    iommuDetachGroupHandle(a.group);
  });

  it('a device without a PASID capability takes no PASID', () => {
    const h = smmuHost();
    const b = h.dev(DEV_B);
    iommuDeviceClaimDmaOwner(b, h);
    const d = h.drv.domainAllocUser(b, IOMMU_HWPT_ALLOC_PASID, null, null);
    iommuAttachDevicePasid(d, b, 1, { domain: d });
    // the core skips devices with maxPasids 0: nothing reached the driver
    expect(h.drv.smmu.streams.get(b.rid)!.cdTable).toBeNull();
  });
});

describe('dirty tracking (HTTU)', () => {
  it('writes mark writable-clean IOPTEs dirty in hardware; read_and_clear reports and cleans them', () => {
    const { h, a, pci } = setup({ httu: 2 });
    const d = h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null, null);
    iommuAttachGroupHandle(d, a.group, { domain: d });
    const base = h.host.frames.alloc(2) * 4096;
    iommuMap(d, 0x10_0000, base, 4 * 4096, RW);
    const dirty = () => {
      const out: [number, number][] = [];
      d.dirtyOps!.readAndClearDirty(0x10_0000, 4 * 4096, false, (iova, len) => out.push([iova, len]));
      return out;
    };
    // io-pgtable maps writable pages writable-dirty (DBM, AP[2] clear): iommufd clears them before tracking
    expect(dirty()).toEqual([0, 1, 2, 3].map((i) => [0x10_0000 + i * 4096, 4096]));
    expect(dirty()).toEqual([]);
    pci.dmaRead(0x10_0000n, 4);
    pci.dmaWrite(0x10_2000n, new Uint8Array([1]));
    expect(dirty()).toEqual([[0x10_2000, 4096]]);
    expect(dirty()).toEqual([]);
    // the clean state was invalidated from the TLB: the next write marks the page again
    pci.dmaWrite(0x10_2000n, new Uint8Array([2]));
    expect(dirty()).toEqual([[0x10_2000, 4096]]);
  });
});
