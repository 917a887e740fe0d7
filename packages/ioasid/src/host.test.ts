import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { IoasidAllocator } from './allocator.js';
import { ioasidAllocator } from './host.js';
import { PCI_PASID_MAX } from './types.js';

describe('ioasidAllocator(host)', () => {
  it('is one system-wide allocator per host, with the 20-bit PASID capacity', () => {
    const h1 = new Host({ memory: 2 * 2 ** 20 });
    const h2 = new Host({ memory: 2 * 2 ** 20 });
    const a = ioasidAllocator(h1);
    expect(a).toBeInstanceOf(IoasidAllocator);
    expect(ioasidAllocator(h1)).toBe(a);
    expect(ioasidAllocator(h2)).not.toBe(a);
    expect(a.capacity).toBe(PCI_PASID_MAX);
    expect(PCI_PASID_MAX).toBe(2 ** 20);
  });

  it('keeps the state of each host apart', () => {
    const h1 = new Host({ memory: 2 * 2 ** 20 });
    const h2 = new Host({ memory: 2 * 2 ** 20 });
    const s1 = ioasidAllocator(h1).allocSet({ quota: 4 });
    const s2 = ioasidAllocator(h2).allocSet({ quota: 4 });
    expect(ioasidAllocator(h1).alloc(s1, 1, 10)).toBe(1);
    expect(ioasidAllocator(h2).alloc(s2, 1, 10)).toBe(1);
    expect(ioasidAllocator(h1).available).toBe(PCI_PASID_MAX - 4);
  });
});
