import { describe, expect, it } from 'vitest';
import { IoasidAllocator } from './allocator.js';
import { IOASID_PRIO_CPU, IOASID_PRIO_DEVICE, IOASID_PRIO_IOMMU } from './notifier.js';
import { errnoOf } from '@iommu-lab/platform';
import { IOASID_MAX, INVALID_IOASID, type IoasidFreeEvent } from './types.js';

interface Svm {
  kind: 'svm';
  mm: number;
}
const isSvm = (p: unknown): p is Svm => typeof p === 'object' && p !== null && (p as Svm).kind === 'svm';

function setup() {
  const a = new IoasidAllocator();
  const s = a.allocSet({ quota: 16 });
  const freed: number[] = [];
  a.registerNotifier((ev) => freed.push(ev.id));
  return { a, s, freed };
}

describe('ioasid_alloc', () => {
  it('hands out the lowest free ID of [min, max] with its private data', () => {
    const { a, s } = setup();
    // PASID 0 is RID2PASID on VT-d, so drivers ask from 1 (PASID_MIN).
    expect(a.alloc(s, 1, 0xf_ffff, { kind: 'svm', mm: 7 })).toBe(1);
    expect(a.alloc(s, 1, 0xf_ffff)).toBe(2);
    expect(a.alloc(s, 100, 200)).toBe(100);
    expect(a.find(s, 1)).toEqual({ kind: 'svm', mm: 7 });
    expect(a.find(s, 2)).toBeUndefined();
    expect(a.size).toBe(3);
  });

  it('reaches the top ID and never INVALID_IOASID', () => {
    const { a, s } = setup();
    expect(a.alloc(s, IOASID_MAX, IOASID_MAX)).toBe(0xffff_fffe);
    expect(errnoOf(() => a.alloc(s, IOASID_MAX, INVALID_IOASID))).toBe('EINVAL');
  });

  it('fails with ENOSPC when the range is full and EINVAL when the range is malformed', () => {
    const { a, s } = setup();
    a.alloc(s, 5, 6);
    a.alloc(s, 5, 6);
    expect(errnoOf(() => a.alloc(s, 5, 6))).toBe('ENOSPC');
    expect(errnoOf(() => a.alloc(s, 9, 8))).toBe('EINVAL');
    expect(errnoOf(() => a.alloc(s, -1, 8))).toBe('EINVAL');
    expect(errnoOf(() => a.alloc(s, 1, 2.5))).toBe('EINVAL');
    expect(a.size).toBe(2);
    expect(s.ids()).toEqual([5, 6]);
  });

  it('refuses a set of another allocator', () => {
    const { a } = setup();
    const foreign = new IoasidAllocator().allocSet({ quota: 4 });
    expect(errnoOf(() => a.alloc(foreign, 1, 10))).toBe('EINVAL');
  });
});

describe('ioasid_free and the free notification', () => {
  it('gives the ID back for reuse and notifies once with the ID, its set and private data', () => {
    const { a, s } = setup();
    const events: IoasidFreeEvent[] = [];
    a.registerNotifier((ev) => events.push(ev));
    const priv = { kind: 'svm', mm: 3 };
    const id = a.alloc(s, 1, 10, priv);
    a.free(s, id);
    expect(events).toEqual([{ id: 1, set: s, private: priv }]);
    expect(errnoOf(() => a.find(null, id))).toBe('ENOENT');
    expect(a.alloc(s, 1, 10)).toBe(1);
  });

  it('notifies while the ID is still allocated, so nobody can be handed it meanwhile', () => {
    const { a, s } = setup();
    const id = a.alloc(s, 1, 10, 'old');
    let seen: unknown;
    let realloc = -1;
    a.registerNotifier((ev) => {
      seen = a.find(s, ev.id);
      realloc = a.alloc(s, 1, 10);
    });
    a.free(s, id);
    expect(seen).toBe('old');
    expect(realloc).toBe(2);
  });

  it('refuses an unknown ID (EINVAL) and an ID of another set (EACCES)', () => {
    const { a, s, freed } = setup();
    const t = a.allocSet({ quota: 4 });
    const id = a.alloc(s, 1, 10);
    expect(errnoOf(() => a.free(s, 9))).toBe('EINVAL');
    expect(errnoOf(() => a.free(t, id))).toBe('EACCES');
    expect(freed).toEqual([]);
    expect(a.find(s, id)).toBeUndefined();
  });

  it('may be called again while references remain, and notifies only once', () => {
    const { a, s, freed } = setup();
    const id = a.alloc(s, 1, 10);
    a.get(s, id);
    a.free(s, id);
    a.free(s, id);
    expect(freed).toEqual([id]);
    expect(a.size).toBe(1);
    expect(a.put(s, id)).toBe(true);
    expect(freed).toEqual([id]);
    expect(a.size).toBe(0);
  });

  it('lets a notifier drop its own reference during the notification', () => {
    const { a, s } = setup();
    const id = a.alloc(s, 1, 10, 'pasid state');
    a.get(s, id); // the VT-d driver's reference while the PASID is bound
    const dropped: boolean[] = [];
    a.registerNotifier((ev) => dropped.push(a.put(null, ev.id)));
    a.free(s, id);
    expect(dropped).toEqual([true]);
    expect(a.size).toBe(0);
    expect(a.alloc(s, 1, 10)).toBe(1);
  });

  it('still frees the ID and runs every notifier when one throws, then rethrows', () => {
    const { a, s, freed } = setup();
    const id = a.alloc(s, 1, 10);
    a.registerNotifier(() => {
      throw new Error('driver bug');
    });
    const after: number[] = [];
    a.registerNotifier((ev) => after.push(ev.id));
    expect(() => a.free(s, id)).toThrow('driver bug');
    expect(freed).toEqual([id]);
    expect(after).toEqual([id]);
    expect(a.size).toBe(0);
  });

  it('frees every ID of a set at once', () => {
    const { a, s, freed } = setup();
    a.alloc(s, 1, 10);
    a.alloc(s, 1, 10);
    a.alloc(s, 1, 10);
    a.get(s, 2);
    a.freeAllInSet(s);
    expect(freed).toEqual([1, 2, 3]);
    expect(s.ids()).toEqual([2]);
    expect(errnoOf(() => a.freeSet(s))).toBe('EBUSY');
    a.put(s, 2);
    a.freeSet(s);
  });
});

describe('ioasid_get / ioasid_put', () => {
  it('frees the ID with its last reference, notifying once', () => {
    const { a, s, freed } = setup();
    const id = a.alloc(s, 1, 10);
    a.get(s, id);
    a.get(null, id);
    expect(a.put(s, id)).toBe(false);
    expect(a.put(null, id)).toBe(false);
    expect(freed).toEqual([]);
    expect(a.put(s, id)).toBe(true);
    expect(freed).toEqual([id]);
    expect(errnoOf(() => a.put(s, id))).toBe('EINVAL');
  });

  it('refuses unknown IDs, other sets and IDs being freed', () => {
    const { a, s } = setup();
    const t = a.allocSet({ quota: 4 });
    const id = a.alloc(s, 1, 10);
    expect(errnoOf(() => a.get(s, 7))).toBe('EINVAL');
    expect(errnoOf(() => a.get(t, id))).toBe('EACCES');
    expect(errnoOf(() => a.put(t, id))).toBe('EACCES');
    expect(errnoOf(() => a.put(s, 7))).toBe('EINVAL');
    a.get(s, id);
    a.free(s, id);
    // FREE_PENDING: no new reference, but the holder can still drop its own.
    expect(errnoOf(() => a.get(s, id))).toBe('EBUSY');
    expect(a.put(s, id)).toBe(true);
  });

  it('refuses new references from a notifier of the last put', () => {
    const { a, s } = setup();
    const id = a.alloc(s, 1, 10);
    const inside: string[] = [];
    a.registerNotifier((ev) => {
      inside.push(errnoOf(() => a.get(null, ev.id)), errnoOf(() => a.put(null, ev.id)));
    });
    expect(a.put(s, id)).toBe(true);
    expect(inside).toEqual(['EBUSY', 'EINVAL']);
    expect(a.size).toBe(0);
  });
});

describe('ioasid_find', () => {
  it('returns the private data, ENOENT for an unknown ID and EACCES for another set', () => {
    const { a, s } = setup();
    const t = a.allocSet({ quota: 4 });
    const id = a.alloc(s, 1, 10, 'data');
    expect(a.find(s, id)).toBe('data');
    expect(a.find(null, id)).toBe('data');
    expect(errnoOf(() => a.find(t, id))).toBe('EACCES');
    expect(errnoOf(() => a.find(s, 5))).toBe('ENOENT');
  });

  it('type-checks the data with a getter and returns null when it rejects', () => {
    const { a, s } = setup();
    const svm: Svm = { kind: 'svm', mm: 1 };
    const p1 = a.alloc(s, 1, 10, svm);
    const p2 = a.alloc(s, 1, 10, { kind: 'vfio' });
    const got: Svm | null = a.find(s, p1, isSvm);
    expect(got).toBe(svm);
    expect(a.find(s, p2, isSvm)).toBeNull();
    // A getter that takes a reference, as intel-svm does under RCU.
    expect(a.find(s, p1, () => (a.get(s, p1), true))).toBe(svm);
    expect(a.put(s, p1)).toBe(false);
  });

  it('sees data replaced with setData, which refuses unknown IDs', () => {
    const { a, s } = setup();
    const id = a.alloc(s, 1, 10);
    a.setData(id, 'bound');
    expect(a.find(s, id)).toBe('bound');
    expect(errnoOf(() => a.setData(9, 'x'))).toBe('ENOENT');
  });
});

describe('notifier registration', () => {
  it('calls the system-wide chain and the set chain, by priority', () => {
    const a = new IoasidAllocator();
    const vm1 = a.allocSet({ quota: 4 });
    const vm2 = a.allocSet({ quota: 4 });
    const order: string[] = [];
    a.registerNotifier(() => order.push('iommu'), { priority: IOASID_PRIO_IOMMU });
    a.registerNotifier(() => order.push('vdcm1'), { set: vm1, priority: IOASID_PRIO_DEVICE });
    a.registerNotifier(() => order.push('kvm1'), { set: vm1, priority: IOASID_PRIO_CPU });
    a.registerNotifier(() => order.push('kvm2'), { set: vm2, priority: IOASID_PRIO_CPU });
    a.free(vm1, a.alloc(vm1, 1, 9));
    expect(order).toEqual(['iommu', 'kvm1', 'vdcm1']);
    order.length = 0;
    a.free(vm2, a.alloc(vm2, 1, 9));
    expect(order).toEqual(['iommu', 'kvm2']);
  });

  it('stops calling an unregistered notifier; EEXIST and ENOENT on misuse', () => {
    const a = new IoasidAllocator();
    const s = a.allocSet({ quota: 4 });
    const got: number[] = [];
    const nb = (ev: IoasidFreeEvent) => got.push(ev.id);
    a.registerNotifier(nb);
    expect(errnoOf(() => a.registerNotifier(nb))).toBe('EEXIST');
    a.free(s, a.alloc(s, 1, 9));
    a.unregisterNotifier(nb);
    expect(errnoOf(() => a.unregisterNotifier(nb))).toBe('ENOENT');
    expect(errnoOf(() => a.unregisterNotifier(nb, s))).toBe('ENOENT');
    a.free(s, a.alloc(s, 1, 9));
    expect(got).toEqual([1]);
    a.freeSet(s);
    expect(errnoOf(() => a.registerNotifier(nb, { set: s }))).toBe('EINVAL');
  });
});
