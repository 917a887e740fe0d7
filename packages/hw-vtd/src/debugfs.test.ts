import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_DATA_VTD_S1, IOMMU_READ, IOMMU_WRITE, iommu_hwpt_vtd_s1, iommuAttachDevicePasid, iommuAttachGroupHandle, iommuMap } from '@iommu-lab/iommu-core';
import { X86PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { deviceTranslationStruct, domainTranslationStruct } from './debugfs.js';
import type { NestedDomain } from './driver/domain-nested.js';
import type { PagingDomain } from './driver/domain-paging.js';
import { OffsetMemory } from './hw/table-writer.js';
import { DEV_A, guestRam, userData, vtdHost } from './driver/__tests__/host.js';

const hex16 = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;
const HEADER = 'IOVA_PFN         \tPML5E             \tPML4E             \tPDPE              \tPDE               \tPTE';

describe('domain_translation_struct', () => {
  it('prints one row per leaf with the entries on its path, as the kernel debugfs does', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const d = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    iommuAttachGroupHandle(d, dev.group, { domain: d });
    const f = h.host.frames.alloc(9);
    iommuMap(d, 0x10_0000, f * 4096 + 0x1000, 8192, IOMMU_READ | IOMMU_WRITE);
    iommuMap(d, 0x40_0000, f * 4096, 2 ** 21, IOMMU_READ);
    const m = h.host.mem;
    const pml4e = m.u64(d.pt.rootPa);
    const pdpe = m.u64(Number(pml4e & 0xf_ffff_ffff_f000n));
    const pdPa = Number(pdpe & 0xf_ffff_ffff_f000n);
    const pde0 = m.u64(pdPa);
    // First-stage leaves: address | P | U | A (0x25), + RW | D (0x42) when writable, XD (bit 63); PS (0x80) for 2 MiB.
    const pte = (pfn: number, rw: boolean) => (1n << 63n) | (BigInt(pfn) << 12n) | (rw ? 0x67n : 0x25n);
    const expected = [
      `Device 0000:01:00.0 with pasid 0 @0x${d.pt.rootPa.toString(16)}`,
      HEADER,
      `0x0000000000100 |\t${hex16(0n)}\t${hex16(pml4e)}\t${hex16(pdpe)}\t${hex16(pde0)}\t${hex16(pte(f + 1, true))}`,
      `0x0000000000101 |\t${hex16(0n)}\t${hex16(pml4e)}\t${hex16(pdpe)}\t${hex16(pde0)}\t${hex16(pte(f + 2, true))}`,
      `0x0000000000400 |\t${hex16(0n)}\t${hex16(pml4e)}\t${hex16(pdpe)}\t${hex16(pte(f, false) | 0x80n)}`,
      '',
    ].join('\n');
    expect(deviceTranslationStruct(h.unit, dev, 0)).toBe(expected);
    expect(domainTranslationStruct(d).split('\n').slice(1)).toEqual(expected.split('\n').slice(1));
    expect(deviceTranslationStruct(h.unit, dev, 5)).toBe('');
    // A row budget stops the walk and says so (a nested stage 2 over all guest RAM has a row per page).
    const cut = expected.split('\n');
    expect(deviceTranslationStruct(h.unit, dev, 0, 2)).toBe([...cut.slice(0, 4), '... (stopped after 2 rows)', ''].join('\n'));
  });

  it('dumps both stages of a nested PASID: stage-1 tables read through stage 2, then stage 2', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const parent = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    const base = guestRam(h, 512);
    iommuMap(parent, 0, base * 4096, 2 ** 21, IOMMU_READ | IOMMU_WRITE);
    let next = 0x10;
    const pt = new X86PageTable(new OffsetMemory(h.host.mem, base), () => next++, 4);
    pt.map(0x7, 0x99, 1, { write: true, user: true });
    const data = userData(h.proc, iommu_hwpt_vtd_s1, { pgtbl_addr: BigInt(pt.root) * 4096n, addr_width: 48 }, IOMMU_HWPT_DATA_VTD_S1);
    const nested = h.unit.ops.domainAllocUser(dev, 0, parent, data) as NestedDomain;
    iommuAttachDevicePasid(nested, dev, 3, { domain: nested });
    const text = deviceTranslationStruct(h.unit, dev, 3);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe(`Device 0000:01:00.0 with pasid 3 @0x${(pt.root * 4096).toString(16)} (nested stage 1: IOVA -> GPA, tables read through stage 2)`);
    expect(lines[2]!.startsWith('0x0000000000007 |')).toBe(true);
    // The guest wrote P | RW | US (7) at GPA 0x99; no DMA yet, so no A/D.
    expect(lines[2]!.endsWith(hex16(0x99007n))).toBe(true);
    expect(lines[3]).toBe(`Device 0000:01:00.0 with pasid 3 @0x${parent.pt.rootPa.toString(16)} (nested stage 2: GPA -> HPA)`);
    // Stage 2: one 2 MiB leaf, R | W | PS at the guest RAM base.
    expect(lines[5]!.endsWith(hex16((BigInt(base) << 12n) | 0x83n))).toBe(true);
    expect(lines).toHaveLength(6);
    expect(domainTranslationStruct(nested).trimEnd().split('\n').slice(1)).toEqual([lines[1], lines[2], lines[3]!.replace(/^Device .*pasid 3/, 'Domain (nested)'), lines[4], lines[5]].map((l) => l!));
  });

  it('says so when remapping is off', () => {
    const h = vtdHost();
    h.unit.hw.write32(0x18, 0);
    expect(deviceTranslationStruct(h.unit, h.dev(DEV_A))).toBe('DMA Remapping is not enabled on dmar0\n');
  });
});
