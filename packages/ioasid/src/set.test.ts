import { describe, expect, it } from 'vitest';
import { IoasidAllocator } from './allocator.js';
import { errnoOf } from '@iommu-lab/platform';

describe('IOASID sets and quotas', () => {
  it('reserves each quota out of the system capacity and returns it when the set goes', () => {
    const a = new IoasidAllocator({ capacity: 10 });
    const vm1 = a.allocSet({ quota: 4 });
    expect(a.available).toBe(6);
    // 7 > 6 left: ENOSPC, and nothing was reserved.
    expect(errnoOf(() => a.allocSet({ quota: 7 }))).toBe('ENOSPC');
    expect(a.available).toBe(6);
    // No quota: the set takes all that is left (the rework's "0 means no limit").
    const rest = a.allocSet();
    expect(rest.quota).toBe(6);
    expect(a.available).toBe(0);
    expect(errnoOf(() => a.allocSet())).toBe('ENOSPC');
    a.freeSet(vm1);
    expect(a.available).toBe(4);
    expect(a.allocSet({ quota: 4 }).quota).toBe(4);
  });

  it('refuses a malformed quota with EINVAL', () => {
    const a = new IoasidAllocator({ capacity: 10 });
    expect(errnoOf(() => a.allocSet({ quota: -1 }))).toBe('EINVAL');
    expect(errnoOf(() => a.allocSet({ quota: 1.5 }))).toBe('EINVAL');
    expect(a.available).toBe(10);
  });

  it('never lets a set hold more IDs than its quota', () => {
    const a = new IoasidAllocator();
    const s = a.allocSet({ quota: 2 });
    expect(a.alloc(s, 1, 100)).toBe(1);
    expect(a.alloc(s, 1, 100)).toBe(2);
    expect(errnoOf(() => a.alloc(s, 1, 100))).toBe('ENOSPC');
    expect(s.size).toBe(2);
    a.free(s, 1);
    expect(a.alloc(s, 1, 100)).toBe(1);
  });

  it('counts a free-pending ID against the quota until its last reference goes', () => {
    const a = new IoasidAllocator();
    const s = a.allocSet({ quota: 1 });
    const id = a.alloc(s, 1, 100);
    a.get(s, id);
    a.free(s, id);
    expect(s.size).toBe(1);
    expect(errnoOf(() => a.alloc(s, 1, 100))).toBe('ENOSPC');
    a.put(s, id);
    expect(s.size).toBe(0);
    expect(a.alloc(s, 1, 100)).toBe(1);
  });

  it('finds a set by its token, which must be unique among live sets', () => {
    const a = new IoasidAllocator();
    const vm = {};
    const s = a.allocSet({ quota: 8, token: vm });
    expect(a.findSet(vm)).toBe(s);
    expect(a.findSet({})).toBeUndefined();
    expect(errnoOf(() => a.allocSet({ quota: 8, token: vm }))).toBe('EEXIST');
    expect(errnoOf(() => a.allocSet({ quota: 8, token: 42 as unknown as object }))).toBe('EINVAL');
    a.freeSet(s);
    expect(a.findSet(vm)).toBeUndefined();
    expect(a.allocSet({ quota: 8, token: vm }).token).toBe(vm);
  });

  it('frees only an empty, live set of this allocator', () => {
    const a = new IoasidAllocator();
    const other = new IoasidAllocator();
    const s = a.allocSet({ quota: 4 });
    const id = a.alloc(s, 1, 10);
    expect(errnoOf(() => a.freeSet(s))).toBe('EBUSY');
    a.free(s, id);
    a.freeSet(s);
    expect(errnoOf(() => a.freeSet(s))).toBe('EINVAL');
    expect(errnoOf(() => a.alloc(s, 1, 10))).toBe('EINVAL');
    expect(errnoOf(() => other.freeSet(a.allocSet({ quota: 1 })))).toBe('EINVAL');
  });

  it('numbers sets from 0 and reuses a freed set ID', () => {
    const a = new IoasidAllocator();
    const s0 = a.allocSet({ quota: 1 });
    const s1 = a.allocSet({ quota: 1 });
    expect([s0.id, s1.id]).toEqual([0, 1]);
    a.freeSet(s0);
    expect(a.allocSet({ quota: 1 }).id).toBe(0);
  });

  it('lists its IDs in ascending order', () => {
    const a = new IoasidAllocator();
    const s = a.allocSet({ quota: 8 });
    const t = a.allocSet({ quota: 8 });
    a.alloc(s, 5, 9);
    a.alloc(t, 5, 9);
    a.alloc(s, 1, 9);
    expect(s.ids()).toEqual([1, 5]);
    expect(t.ids()).toEqual([6]);
    expect(s.has(6)).toBe(false);
    expect(a.setOf(6)).toBe(t);
  });
});
