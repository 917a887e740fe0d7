import { describe, expect, it } from 'vitest';
import { IovaTree } from './iova-tree.js';

describe('IovaTree (util/iova-tree.c)', () => {
  it('finds overlaps with inclusive ranges and keeps maps ordered', () => {
    const t = new IovaTree();
    t.insert({ iova: 0x200, size: 511, translated: 0x800, perm: 3 });
    t.insert({ iova: 0x10, size: 0, translated: 0x20, perm: 1 });
    expect(t.find(0x3ff, 0)?.iova).toBe(0x200);
    expect(t.find(0x400, 10)).toBeUndefined();
    expect(t.find(0x11, 0)).toBeUndefined();
    expect(t.find(0, 0x10)?.iova).toBe(0x10);
    expect(t.entries().map((m) => m.iova)).toEqual([0x10, 0x200]);
    expect(() => t.insert({ iova: 0x300, size: 0, translated: 0, perm: 1 })).toThrow(RangeError);
  });

  it('removes every map overlapping a range', () => {
    const t = new IovaTree();
    for (let i = 0; i < 8; i++) t.insert({ iova: i * 2, size: 0, translated: i, perm: 3 });
    t.remove(3, 6);
    expect(t.entries().map((m) => m.iova)).toEqual([0, 2, 10, 12, 14]);
  });
});
