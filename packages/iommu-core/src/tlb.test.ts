import { describe, expect, it } from 'vitest';
import { TlbCache } from './tlb.js';

describe('TlbCache', () => {
  it('hits per tag and page and counts hits and misses', () => {
    const t = new TlbCache('iotlb', 16, 2);
    expect(t.lookup(1, 0x10)).toBe(-1);
    t.fill(1, 0x10, 0x999, 1, 3);
    expect(t.lookup(1, 0x10)).toBe(0x999);
    expect(t.perm()).toBe(3);
    expect(t.lookup(2, 0x10)).toBe(-1);
    expect(t.lookup(1, 0x11)).toBe(-1);
    expect(t.stats).toMatchObject({ hits: 1, misses: 3, fills: 1 });
  });

  it('serves every 4 KiB page of a 2 MiB entry from one fill', () => {
    const t = new TlbCache('iotlb');
    t.fill(5, 0x401, 0x80001, 2, 1);
    expect(t.lookup(5, 0x400)).toBe(0x80000);
    expect(t.level()).toBe(2);
    expect(t.lookup(5, 0x5ff)).toBe(0x801ff);
    expect(t.lookup(5, 0x600)).toBe(-1);
    expect(t.slot).toBe(-1);
  });

  it('evicts the oldest way of a full set', () => {
    const t = new TlbCache('tiny', 1, 2);
    t.fill(1, 1, 10, 1, 1);
    t.fill(1, 2, 20, 1, 1);
    t.lookup(1, 1);
    t.fill(1, 3, 30, 1, 1);
    expect(t.lookup(1, 2)).toBe(-1);
    expect(t.lookup(1, 1)).toBe(10);
    expect(t.lookup(1, 3)).toBe(30);
    expect(t.stats.evictions).toBe(1);
  });

  it('keeps stale entries until invalidated by tag, range or all', () => {
    const t = new TlbCache('iotlb');
    t.fill(1, 0x10, 0x100, 1, 1);
    t.fill(1, 0x20, 0x200, 1, 1);
    t.fill(2, 0x10, 0x300, 1, 1);
    t.fill(1, 0x200, 0x400, 2, 1);
    expect(t.invalidateRange(1, 0x1f, 2)).toBe(1);
    expect(t.lookup(1, 0x20)).toBe(-1);
    expect(t.lookup(1, 0x10)).toBe(0x100);
    expect(t.invalidateRange(1, 0x300, 1)).toBe(1);
    expect(t.lookup(1, 0x201)).toBe(-1);
    expect(t.invalidateTag(2)).toBe(1);
    expect(t.size).toBe(1);
    expect([...t.entries()]).toEqual([{ tag: 1, inPfn: 0x10, outPfn: 0x100, level: 1, perm: 1 }]);
    expect(t.invalidateAll()).toBe(1);
    expect(t.stats.invalidated).toBe(4);
  });
});
