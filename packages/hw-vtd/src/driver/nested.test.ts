import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_READ,
  IOMMU_VTD_INV_FLAGS_LEAF,
  IOMMU_WRITE,
  iommu_hwpt_vtd_s1,
  iommu_hwpt_vtd_s1_invalidate,
  iommuAttachDevicePasid,
  iommuAttachGroupHandle,
  type IommuUserDataArray,
  iommuMap,
} from '@iommu-lab/iommu-core';
import { DmaFault, type Process, U64_MAX, X86PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { QI_DIOTLB_TYPE, QI_EIOTLB_TYPE } from '../format/inv-desc.js';
import { OffsetMemory } from '../hw/table-writer.js';
import { infoOf } from './device-info.js';
import type { NestedDomain } from './domain-nested.js';
import type { PagingDomain } from './domain-paging.js';
import { pasidEntryPa, readPasidEntry } from './pasid.js';
import { DEV_A, DEV_ATS, guestRam, userData, vtdHost, type VtdHost } from './__tests__/host.js';

const RW = IOMMU_READ | IOMMU_WRITE;
const GUEST_PAGES = 4096;

/** A VM: 16 MiB of guest RAM mapped GPA -> HPA in a nest parent, and a guest stage-1 table in it. */
function vm(h: VtdHost, bdf = DEV_A, parentFlags = 0, s1: Partial<{ flags: bigint; addr_width: number }> = {}) {
  const dev = h.dev(bdf);
  const parent = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT | parentFlags, null, null) as PagingDomain;
  const base = guestRam(h, GUEST_PAGES);
  iommuMap(parent, 0, base * 4096, GUEST_PAGES * 4096, RW);
  let next = 0x10;
  const pt = new X86PageTable(new OffsetMemory(h.host.mem, base), () => next++, s1.addr_width === 57 ? 5 : 4);
  const data = userData(h.proc, iommu_hwpt_vtd_s1, { flags: s1.flags ?? 0n, pgtbl_addr: BigInt(pt.root) * 4096n, addr_width: s1.addr_width ?? 48 }, IOMMU_HWPT_DATA_VTD_S1);
  const nested = h.unit.ops.domainAllocUser(dev, 0, parent, data) as NestedDomain;
  return { dev, parent, base, pt, nested, pci: h.host.device(bdf) };
}

function invArray(proc: Process, entries: Partial<{ addr: bigint; npages: bigint; flags: number; __reserved: number }>[], type = IOMMU_HWPT_INVALIDATE_DATA_VTD_S1): IommuUserDataArray {
  const size = iommu_hwpt_vtd_s1_invalidate.size;
  const bytes = new Uint8Array(size * entries.length);
  entries.forEach((e, i) => iommu_hwpt_vtd_s1_invalidate.encode(e, bytes, i * size));
  const uptr = proc.mmap(4096);
  proc.memWrite(uptr, bytes);
  return { type, uptr, entry_len: size, entry_num: entries.length, proc };
}

const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

describe('nested translation end to end: GIOVA -> GPA (guest stage 1) -> HPA (nest parent)', () => {
  it('programs PGTT = nested and translates device DMA through both stages', () => {
    const h = vtdHost();
    const v = vm(h);
    iommuAttachGroupHandle(v.nested, v.dev.group, { domain: v.nested });
    const e = readPasidEntry(infoOf(v.dev), pasidEntryPa(infoOf(v.dev), 0));
    expect(e).toMatchObject({ present: true, pgtt: 3, aw: 2, fspm: 0, did: v.nested.didOf(h.unit.iommu), fsptptr: BigInt(v.pt.root) * 4096n });
    expect(Number(e.ssptptr)).toBe(v.parent.pt.rootPa);
    v.pt.map(0x100, 0x300, 1, { write: true, user: true });
    v.pci.dmaWrite(0x10_0008n, bytes(8, 0xab));
    expect(h.host.mem.read((v.base + 0x300) * 4096 + 8, 8)).toEqual(bytes(8, 0xab));
  });

  it('keeps a changed stage-1 entry stale until cacheInvalidateUser, then translates the new one', () => {
    const h = vtdHost();
    const v = vm(h);
    iommuAttachGroupHandle(v.nested, v.dev.group, { domain: v.nested });
    v.pt.map(0x100, 0x300, 1, { write: true, user: true });
    v.pci.dmaWrite(0x10_0000n, bytes(4, 1));
    v.pt.unmap(0x100);
    v.pt.map(0x100, 0x301, 1, { write: true, user: true });
    v.pci.dmaWrite(0x10_0000n, bytes(4, 2));
    expect(h.host.mem.read((v.base + 0x300) * 4096, 4)).toEqual(bytes(4, 2));
    const qi = h.unit.iommu.qi;
    const n = qi.history.length;
    const arr = invArray(h.proc, [{ addr: 0x10_0000n, npages: 1n, flags: IOMMU_VTD_INV_FLAGS_LEAF }]);
    v.nested.cacheInvalidateUser(arr);
    expect(arr.entry_num).toBe(1);
    // One PASID-based IOTLB invalidation: DID of the nested domain, PASID 0, page-selective, IH from LEAF.
    const sent = qi.history.slice(n);
    expect(sent.map((d) => d.type)).toEqual([QI_EIOTLB_TYPE]);
    expect(sent[0]!.qw[1]).toBe(0x10_0040n);
    v.pci.dmaWrite(0x10_0000n, bytes(4, 3));
    expect(h.host.mem.read((v.base + 0x301) * 4096, 4)).toEqual(bytes(4, 3));
  });

  it('npages = U64_MAX at addr 0 invalidates everything of the PASID (G = all-in-PASID)', () => {
    const h = vtdHost();
    const v = vm(h);
    iommuAttachGroupHandle(v.nested, v.dev.group, { domain: v.nested });
    v.pt.map(0x100, 0x300, 1, { write: true, user: true });
    v.pci.dmaRead(0x10_0000n, 4);
    v.pt.unmap(0x100);
    const n = h.unit.iommu.qi.history.length;
    v.nested.cacheInvalidateUser(invArray(h.proc, [{ addr: 0n, npages: U64_MAX, flags: 0 }]));
    const d = h.unit.iommu.qi.history.slice(n);
    expect(d.map((x) => [x.type, Number((x.qw[0]! >> 4n) & 3n)])).toEqual([[QI_EIOTLB_TYPE, 2]]);
    expect(() => v.pci.dmaRead(0x10_0000n, 4)).toThrow(/first-level paging entry is clear/);
  });

  it('answers bad invalidation arrays with the kernel errnos and reports how many entries were handled', () => {
    const h = vtdHost();
    const v = vm(h);
    iommuAttachGroupHandle(v.nested, v.dev.group, { domain: v.nested });
    const run = (entries: Parameters<typeof invArray>[1], type?: number) => {
      const arr = invArray(h.proc, entries, type);
      let code = '';
      try {
        v.nested.cacheInvalidateUser(arr);
      } catch (e) {
        code = (e as { code: string }).code;
      }
      return [code, arr.entry_num];
    };
    const ok = { addr: 0x1000n, npages: 1n, flags: 0 };
    expect(run([ok], 7)).toEqual(['EINVAL', 0]);
    expect(run([ok, { ...ok, flags: 2 }, ok])).toEqual(['EOPNOTSUPP', 1]);
    expect(run([ok, ok, { ...ok, __reserved: 1 }])).toEqual(['EOPNOTSUPP', 2]);
    expect(run([{ ...ok, addr: 0x1001n }])).toEqual(['EINVAL', 0]);
    expect(run([ok, { addr: 0x1000n, npages: U64_MAX, flags: 0 }])).toEqual(['EINVAL', 1]);
    expect(run([ok, ok, ok])).toEqual(['', 3]);
    expect(run([])).toEqual(['', 0]);
  });

  it('flushes device-TLBs too when the device has ATS, and tags the parent so its unmaps reach the nested DID', () => {
    const h = vtdHost();
    const v = vm(h, DEV_ATS);
    iommuAttachGroupHandle(v.nested, v.dev.group, { domain: v.nested });
    const did = v.nested.didOf(h.unit.iommu);
    expect(v.parent.cacheTags.map((t) => [t.type, t.did])).toEqual([
      ['nesting_iotlb', did],
      ['nesting_devtlb', did],
    ]);
    const n = h.unit.iommu.qi.history.length;
    v.nested.cacheInvalidateUser(invArray(h.proc, [{ addr: 0x2000n, npages: 2n, flags: 0 }]));
    expect(h.unit.iommu.qi.history.slice(n).map((d) => d.type)).toEqual([QI_EIOTLB_TYPE, QI_DIOTLB_TYPE]);
  });
});

describe('attach checks of intel_pasid_setup_nested, with the old domain kept on failure', () => {
  it.each([
    ['addr_width 39', {}, { addr_width: 39 }],
    ['addr_width 57 without FS5LP', {}, { addr_width: 57 }],
    ['SRE without ECAP.SRS', { srs: false }, { flags: 1n }],
    ['EAFE without ECAP.EAFS', {}, { flags: 2n }],
  ])('%s -> EINVAL', (_n, opts, s1) => {
    const h = vtdHost(opts);
    const v = vm(h, DEV_A, 0, s1);
    const blocked = v.dev.group.domain;
    expect(() => iommuAttachGroupHandle(v.nested, v.dev.group, { domain: v.nested })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(v.dev.group.domain).toBe(blocked);
    expect(v.nested.iommuDids.size).toBe(0);
    expect(v.parent.cacheTags).toEqual([]);
    expect(readPasidEntry(infoOf(v.dev), pasidEntryPa(infoOf(v.dev), 0)).present).toBe(false);
  });

  it('accepts 57-bit stage 1 with FS5LP (FSPM = 1), SRE with WPE, and EAFE with EAFS', () => {
    const h = vtdHost({ addressWidth: 57, eafs: true });
    const v = vm(h, DEV_A, 0, { addr_width: 57, flags: 7n });
    iommuAttachDevicePasid(v.nested, v.dev, 5, { domain: v.nested });
    expect(readPasidEntry(infoOf(v.dev), pasidEntryPa(infoOf(v.dev), 5))).toMatchObject({ pgtt: 3, fspm: 1, sre: true, wpe: true, eafe: true, aw: 3 });
    v.pt.map(0x7, 0x40, 1, { write: true, user: true });
    v.pci.dmaWrite(0x7000n, bytes(2, 5), { pasid: 5 });
    expect(h.host.mem.read((v.base + 0x40) * 4096, 2)).toEqual(bytes(2, 5));
  });

  it('refuses read-only maps in a nest parent (ERRATA_772415_SPR17) and leaves the table as it was', () => {
    const h = vtdHost();
    const v = vm(h);
    expect(() => iommuMap(v.parent, 0x100_0000, 0x10_0000, 4096, IOMMU_READ)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(v.parent.iovaToPhys(0x100_0000)).toBe(-1);
  });
});

describe('dirty tracking on second-stage domains (SSADE)', () => {
  it('sets SSADE in every entry using the table, records D bits of device writes and clears them', () => {
    const h = vtdHost();
    const v = vm(h, DEV_A, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    iommuAttachGroupHandle(v.nested, v.dev.group, { domain: v.nested });
    v.pt.map(0x100, 0x300, 1, { write: true, user: true });
    v.parent.dirtyOps!.setDirtyTracking(true);
    expect(readPasidEntry(infoOf(v.dev), pasidEntryPa(infoOf(v.dev), 0)).ssade).toBe(true);
    v.pci.dmaWrite(0x10_0000n, bytes(4, 1));
    const dirty: [number, number][] = [];
    v.parent.dirtyOps!.readAndClearDirty(0, GUEST_PAGES * 4096, false, (iova, len) => dirty.push([iova, len]));
    // Guest RAM sits in 2 MiB leaves: the one holding GPA page 0x300 (the data) is dirty, and the one
    // holding the guest's stage-1 tables (GPA 0x10..) is dirty from the hardware's A/D writes into them.
    expect(dirty).toEqual([
      [0, 2 ** 21],
      [2 ** 21, 2 ** 21],
    ]);
    const again: number[] = [];
    v.parent.dirtyOps!.readAndClearDirty(0, GUEST_PAGES * 4096, false, (iova) => again.push(iova));
    expect(again).toEqual([]);
    v.pci.dmaWrite(0x10_0010n, bytes(4, 2));
    const third: number[] = [];
    v.parent.dirtyOps!.readAndClearDirty(0x300 * 4096, 4096, true, (iova) => third.push(iova));
    expect(third).toEqual([2 ** 21]);
    v.parent.dirtyOps!.setDirtyTracking(false);
    expect(readPasidEntry(infoOf(v.dev), pasidEntryPa(infoOf(v.dev), 0)).ssade).toBe(false);
  });
});

describe('the fault interrupt path', () => {
  it('records the fault in hardware; the driver handler reads it, clears F and tells its listeners', () => {
    const h = vtdHost();
    const v = vm(h);
    iommuAttachGroupHandle(v.nested, v.dev.group, { domain: v.nested });
    const seen: number[] = [];
    const off = h.unit.faults.onFault((f) => seen.push(f.reason));
    expect(() => v.pci.dmaWrite(0x55_5000n, bytes(4, 1))).toThrow(DmaFault);
    expect(seen).toEqual([0x71]);
    expect(h.unit.faults.log.at(-1)).toMatchObject({ unit: 'dmar0', reason: 0x71, sid: 0x100, pasid: -1, address: 0x55_5000n, type: 'write' });
    // Handled: no fault pending in FSTS, F clear in FRCD[0].
    expect(h.unit.hw.read32(0x34) & 2).toBe(0);
    expect(h.unit.hw.read32(0x22c) >>> 31).toBe(0);
    off();
    expect(() => v.pci.dmaRead(0x55_5000n, 4)).toThrow(DmaFault);
    expect(seen).toHaveLength(1);
    expect(h.unit.faults.handled).toBe(2);
  });
});
