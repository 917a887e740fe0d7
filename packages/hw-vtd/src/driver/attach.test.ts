import {
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachDevicePasid,
  iommuAttachGroupHandle,
  iommuDetachDevicePasid,
  iommuDetachGroupHandle,
  iommuMap,
  iommuReplaceGroupHandle,
  iommuUnmap,
} from '@iommu-lab/iommu-core';
import { DmaFault } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { QI_EIOTLB_TYPE, QI_IOTLB_TYPE } from '../format/inv-desc.js';
import type { PagingDomain } from './domain-paging.js';
import { infoOf } from './device-info.js';
import { pasidEntryPa, readPasidEntry } from './pasid.js';
import { DEV_A, vtdHost } from './__tests__/host.js';

const RW = IOMMU_READ | IOMMU_WRITE;
const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

describe('attach and map through iommu-core, then device DMA', () => {
  it('first-stage domain on the RID: the DMA lands in the mapped frame; after unmap it faults and writes nothing', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const d = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    iommuAttachGroupHandle(d, dev.group, { domain: d });
    const frame = h.host.frames.alloc(1);
    iommuMap(d, 0x40_0000, frame * 4096, 8192, RW);
    const pci = h.host.device(DEV_A);
    pci.dmaWrite(0x40_0ff0n, bytes(0x20, 0x5a));
    expect(h.host.mem.read(frame * 4096 + 0xff0, 0x20)).toEqual(bytes(0x20, 0x5a));
    expect(pci.dmaRead(0x40_0ff0n, 0x20)).toEqual(bytes(0x20, 0x5a));
    // One page past the mapping faults and writes nothing, not even the mapped part.
    expect(() => pci.dmaWrite(0x40_1ff0n, bytes(0x20, 0x77))).toThrow(/first-level paging entry is clear/);
    expect(h.host.mem.read(frame * 4096 + 0x1ff0, 0x10)).toEqual(bytes(0x10, 0));
    // The PASID entry for RID_PASID 0 is first-stage with the domain's DID (not FLPT_DEFAULT_DID in 7.3).
    const e = readPasidEntry(infoOf(dev), pasidEntryPa(infoOf(dev), 0));
    expect([e.present, e.pgtt, e.did, Number(e.fsptptr)]).toEqual([true, 1, 2, d.pt.rootPa]);
    expect(iommuUnmap(d, 0x40_0000, 8192)).toBe(8192);
    expect(() => pci.dmaWrite(0x40_0000n, bytes(16, 1))).toThrow(DmaFault);
    expect(h.host.mem.read(frame * 4096, 16)).toEqual(bytes(16, 0));
  });

  it('maps with large pages when aligned and splits per page size like the core asks', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const d = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    iommuAttachGroupHandle(d, dev.group, { domain: d });
    const block = h.host.frames.alloc(10);
    iommuMap(d, 0x20_0000, block * 4096, 4 * 2 ** 20, RW);
    let leaves = 0;
    d.pt.walk((level, _v, _lo, _hi, leaf) => {
      if (leaf) {
        expect(level).toBe(2);
        leaves++;
      }
    });
    expect(leaves).toBe(2);
    h.host.device(DEV_A).dmaWrite(0x3f_f000n, bytes(8, 7));
    expect(h.host.mem.read(block * 4096 + 0x1f_f000, 8)).toEqual(bytes(8, 7));
    expect(d.iovaToPhys(0x20_0123)).toBe(block * 4096 + 0x123);
    expect(d.iovaToPhys(0x60_0000)).toBe(-1);
  });

  it('attaches a second-stage domain to a PASID and translates DMA with that PASID only', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const d = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    iommuAttachDevicePasid(d, dev, 0x55, { domain: d });
    const frame = h.host.frames.allocFrame();
    iommuMap(d, 0x1000, frame * 4096, 4096, RW);
    const pci = h.host.device(DEV_A);
    pci.dmaWrite(0x1000n, bytes(4, 9), { pasid: 0x55 });
    expect(h.host.mem.read(frame * 4096, 4)).toEqual(bytes(4, 9));
    // Without a PASID the RID_PASID 0 path is used: nothing attached there, its directory entry is absent.
    expect(() => pci.dmaWrite(0x1000n, bytes(4, 9))).toThrow(/Directory Entry is clear/);
    const e = readPasidEntry(infoOf(dev), pasidEntryPa(infoOf(dev), 0x55));
    expect([e.pgtt, e.aw, e.did, Number(e.ssptptr)]).toEqual([2, 2, 2, d.pt.rootPa]);
    iommuDetachDevicePasid(d, dev, 0x55);
    expect(readPasidEntry(infoOf(dev), pasidEntryPa(infoOf(dev), 0x55)).present).toBe(false);
    expect(() => pci.dmaWrite(0x1000n, bytes(4, 9), { pasid: 0x55 })).toThrow(DmaFault);
    expect(d.iommuDids.size).toBe(0);
  });

  it('refuses a present PASID entry with EBUSY and leaves the first attachment working', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const d1 = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    const d2 = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    d1.setDevPasid(dev, 7, null);
    const frame = h.host.frames.allocFrame();
    iommuMap(d1, 0, frame * 4096, 4096, RW);
    expect(() => d2.setDevPasid(dev, 7, null)).toThrowError(expect.objectContaining({ code: 'EBUSY' }));
    expect(d2.iommuDids.size).toBe(0);
    expect(d2.cacheTags).toEqual([]);
    h.host.device(DEV_A).dmaWrite(0n, bytes(2, 3), { pasid: 7 });
    expect(h.host.mem.read(frame * 4096, 2)).toEqual(bytes(2, 3));
  });

  it('moves between domains: replace, identity (pass-through, DID 1) and blocked', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const info = infoOf(dev);
    const d1 = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    const d2 = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    const handle = { domain: d1 };
    iommuAttachGroupHandle(d1, dev.group, handle);
    iommuReplaceGroupHandle(dev.group, d2, handle);
    expect(readPasidEntry(info, pasidEntryPa(info, 0)).pgtt).toBe(2);
    expect(d1.iommuDids.size).toBe(0);
    expect(h.unit.iommu.didsInUse).toBe(1);
    iommuReplaceGroupHandle(dev.group, h.unit.ops.identityDomain, handle);
    expect(readPasidEntry(info, pasidEntryPa(info, 0))).toMatchObject({ present: true, pgtt: 4, did: 1 });
    const pa = h.host.frames.allocFrame() * 4096;
    h.host.device(DEV_A).dmaWrite(BigInt(pa), bytes(4, 0xee));
    expect(h.host.mem.read(pa, 4)).toEqual(bytes(4, 0xee));
    iommuDetachGroupHandle(dev.group);
    expect(readPasidEntry(info, pasidEntryPa(info, 0)).present).toBe(false);
    expect(() => h.host.device(DEV_A).dmaRead(BigInt(pa), 4)).toThrow(DmaFault);
    expect(h.unit.iommu.didsInUse).toBe(0);
  });

  it('rolls back to the old domain when an attach fails (a 5-level first stage on a 4-level unit is EINVAL)', () => {
    const h = vtdHost({ addressWidth: 57 });
    const dev = h.dev(DEV_A);
    const d1 = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    const handle = { domain: d1 };
    iommuAttachGroupHandle(d1, dev.group, handle);
    const d5 = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    // A domain allocated with another unit's geometry: pretend FS5LP went away.
    (h.unit.iommu.c as { fs5lp: boolean }).fs5lp = false;
    expect(() => iommuReplaceGroupHandle(dev.group, d5, handle)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(dev.group.domain).toBe(d1);
    expect(readPasidEntry(infoOf(dev), pasidEntryPa(infoOf(dev), 0))).toMatchObject({ present: true, pgtt: 2 });
    expect(d5.iommuDids.size).toBe(0);
  });

});

describe('resource limits and failed maps leave the state as it was', () => {
  it('runs out of domain IDs with ENOSPC (ND = 0: 16 IDs, 0 and 1 reserved)', () => {
    const h = vtdHost({ nd: 0 });
    const dev = h.dev(DEV_A);
    for (let i = 0; i < 14; i++) {
      const d = h.unit.ops.domainAllocUser(dev, 0, null, null);
      iommuAttachDevicePasid(d, dev, i + 1, { domain: d });
    }
    expect(h.unit.iommu.didsInUse).toBe(14);
    const extra = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    expect(() => iommuAttachDevicePasid(extra, dev, 20, { domain: extra })).toThrowError(expect.objectContaining({ code: 'ENOSPC' }));
    expect(extra.iommuDids.size).toBe(0);
    expect(readPasidEntry(infoOf(dev), pasidEntryPa(infoOf(dev), 20)).present).toBe(false);
  });

  it('a map over an existing mapping fails with EADDRINUSE and the core unwinds what it mapped', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const d = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    const f = h.host.frames.alloc(2);
    iommuMap(d, 0x3000, f * 4096, 4096, RW);
    expect(() => iommuMap(d, 0x1000, f * 4096, 3 * 4096, RW)).toThrowError(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect([d.iovaToPhys(0x1000), d.iovaToPhys(0x2000), d.iovaToPhys(0x3000)]).toEqual([-1, -1, f * 4096]);
    expect(() => iommuMap(d, 2 ** 48, f * 4096, 4096, RW)).toThrowError(expect.objectContaining({ code: 'ERANGE' }));
  });
});

describe('the flushes the driver issues', () => {
  it('caching mode: a second-stage map sends a page-selective IOTLB invalidation; a first-stage map does not', () => {
    const h = vtdHost({ cachingMode: true });
    const dev = h.dev(DEV_A);
    const qi = h.unit.iommu.qi;
    const ss = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    iommuAttachGroupHandle(ss, dev.group, { domain: ss });
    const before = qi.history.length;
    iommuMap(ss, 0x10_0000, h.host.frames.alloc(2) * 4096, 4 * 4096, RW);
    const sent = qi.history.slice(before);
    expect(sent.map((d) => d.type)).toEqual([QI_IOTLB_TYPE]);
    // DID 2, DR/DW (CAP.DRD/DWD: 0xc0), PSI (G 3 << 4), type 2; 4 pages at 0x100000: AM 2.
    expect(sent[0]!.qw[0]).toBe(0x2_00f2n);
    expect(sent[0]!.qw[1]).toBe(0x10_0002n);
    const fs = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    fs.setDevPasid(dev, 3, null);
    const mid = qi.history.length;
    iommuMap(fs, 0x10_0000, h.host.frames.allocFrame() * 4096, 4096, RW);
    expect(qi.history.length).toBe(mid);
  });

  it('unmap: second stage -> IOTLB PSI (IH when no table page was freed); first stage -> PASID-based IOTLB', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const qi = h.unit.iommu.qi;
    const ss = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    iommuAttachGroupHandle(ss, dev.group, { domain: ss });
    const f = h.host.frames.alloc(10);
    iommuMap(ss, 0x40_0000, f * 4096, 8192, RW);
    iommuMap(ss, 0x80_0000, f * 4096 + 4096, 2 ** 21, RW);
    let n = qi.history.length;
    iommuUnmap(ss, 0x40_0000, 4096);
    let d = qi.history.slice(n);
    // Leaves only: IH (qword 1 bit 6) set, AM 0, address 0x400000.
    expect(d.map((x) => [x.type, x.qw[1]])).toEqual([[QI_IOTLB_TYPE, 0x40_0040n]]);
    n = qi.history.length;
    const tables = h.host.frames.used;
    iommuUnmap(ss, 0x80_0000, 2 ** 21);
    d = qi.history.slice(n);
    // The page table under [0x800000, 0xa00000) is wholly unmapped and freed: IH clear, AM 9.
    expect(d.map((x) => [x.type, x.qw[1]])).toEqual([[QI_IOTLB_TYPE, 0x80_0009n]]);
    expect(h.host.frames.used).toBe(tables - 1);
    const fs = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    fs.setDevPasid(dev, 9, null);
    iommuMap(fs, 0, f * 4096, 4096, RW);
    n = qi.history.length;
    iommuUnmap(fs, 0, 4096);
    d = qi.history.slice(n);
    expect(d[0]!.type).toBe(QI_EIOTLB_TYPE);
    // PASID 9 (bits 51:32), DID 3 (31:16), G 3 (page-selective within PASID), type 6.
    expect(d[0]!.qw[0]).toBe(0x9_0003_0036n);
  });
});
