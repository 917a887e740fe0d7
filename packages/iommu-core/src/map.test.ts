import { describe, expect, it } from 'vitest';
import { ToyDomain, toyOps } from './__tests__/toy-driver.js';
import { iommuIovaToPhys, iommuMap, iommuPgsize, iommuUnmap } from './map.js';

const K4 = 4096;
const M2 = 2 ** 21;
const G1 = 2 ** 30;
const sizes = [K4, M2, G1];

describe('iommu_pgsize', () => {
  it('picks the largest aligned page size and stops small pages at the next large boundary', () => {
    // iova 2M-8K: 4K pages until the 2M boundary (2 pages), then 2M pages can take over.
    expect(iommuPgsize(sizes, M2 - 2 * K4, 0x1000_0000 - 2 * K4, 4 * M2)).toEqual({ pgsize: K4, count: 2 });
    expect(iommuPgsize(sizes, M2, 0x1000_0000, 4 * M2 + K4)).toEqual({ pgsize: M2, count: 4 });
    // iova and paddr offset differently within 2M: only 4K pages, all of them.
    expect(iommuPgsize(sizes, M2 - K4, 0x1000_0000, 3 * M2)).toEqual({ pgsize: K4, count: (3 * M2) / K4 });
    expect(iommuPgsize(sizes, G1, 2 * G1, G1)).toEqual({ pgsize: G1, count: 1 });
    expect(() => iommuPgsize(sizes, 0x800, 0, K4)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('iommu_map / iommu_unmap', () => {
  it('split a range into page sizes and flush once after unmapping', () => {
    const d = new ToyDomain(toyOps(), 'paging', 'd');
    iommuMap(d, M2 - K4, 0x4000_0000 - K4, M2 + 2 * K4, 3);
    expect(d.log).toEqual(['map 0x1ff000 0x1000 x1', 'map 0x200000 0x200000 x1', 'map 0x400000 0x1000 x1']);
    expect(iommuIovaToPhys({ ...d, type: 'identity' } as ToyDomain, 0x1234)).toBe(0x1234);
    d.log.length = 0;
    expect(iommuUnmap(d, M2 - K4, M2 + 2 * K4)).toBe(M2 + 2 * K4);
    expect(d.log).toEqual(['unmap 0x1ff000 0x1000 x1 -> 0x1000', 'unmap 0x200000 0x200000 x1 -> 0x200000', 'unmap 0x400000 0x1000 x1 -> 0x1000', 'sync 0x1ff000-0x401000']);
  });

  it('unwinds a partial map so nothing stays mapped', () => {
    const d = new ToyDomain(toyOps(), 'paging', 'd', [K4]);
    d.failMapAfter = 3 * K4;
    expect(() => iommuMap(d, 0x10000, 0x20000, 8 * K4, 3)).toThrowError(expect.objectContaining({ code: 'ENOMEM' }));
    expect(d.pages.size).toBe(0);
    expect(d.log.at(-1)).toBe('sync 0x10000-0x13000');
  });

  it('refuses misaligned ranges and domains without map hooks', () => {
    const d = new ToyDomain(toyOps(), 'paging', 'd');
    expect(() => iommuMap(d, 0x800, 0, K4, 3)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => iommuMap(d, 0, 0, 0, 3)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    const blocked = new ToyDomain(toyOps(), 'blocked', 'b', []);
    expect(() => iommuMap(blocked, 0, 0, K4, 3)).toThrowError(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    expect(iommuUnmap(d, 0x100000, K4)).toBe(0);
  });
});
