import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrnoError } from '@iommu-lab/platform';
import { IoasidAllocator } from './allocator.js';
import { IdSpace } from './id-space.js';
import type { IoasidSet } from './set.js';
import { INVALID_IOASID, type IoasidAllocatorOps } from './types.js';

type Op =
  | { t: 'alloc'; set: number; min: number; span: number }
  | { t: 'free'; pick: number; wrongSet: boolean }
  | { t: 'get'; pick: number }
  | { t: 'put'; pick: number }
  | { t: 'freeAll'; set: number }
  | { t: 'register'; k: number }
  | { t: 'unregister'; k: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('alloc' as const), set: fc.nat(2), min: fc.nat(20), span: fc.nat(12) }), weight: 4 },
  fc.record({ t: fc.constant('free' as const), pick: fc.nat(), wrongSet: fc.boolean() }),
  fc.record({ t: fc.constant('get' as const), pick: fc.nat() }),
  fc.record({ t: fc.constant('put' as const), pick: fc.nat() }),
  fc.record({ t: fc.constant('freeAll' as const), set: fc.nat(2) }),
  fc.record({ t: fc.constant('register' as const), k: fc.nat(3) }),
  fc.record({ t: fc.constant('unregister' as const), k: fc.nat(3) }),
);

/** What the test expects of one live ID. */
interface Model {
  set: IoasidSet;
  refs: number;
  pending: boolean;
  reported: number;
  /** Handed out by the default allocator. */
  byDefault: boolean;
}

/**
 * Two custom allocators, each shared by two registrations: A answers the lowest free ID of its
 * own space; B is careless and may answer live IDs or IDs outside the range.
 */
function customAllocators() {
  const handedOut = [new Map<number, number>(), new Map<number, number>()];
  const spaceA = new IdSpace();
  let bCounter = 0;
  const check = (g: number, id: number) => {
    const n = handedOut[g]!.get(id) ?? 0;
    // Freed only through the allocator that handed it out, and only once.
    expect(n, `allocator ${g} frees ${id} it did not hand out`).toBeGreaterThan(0);
    if (n === 1) handedOut[g]!.delete(id);
    else handedOut[g]!.set(id, n - 1);
  };
  const allocA = (min: number, max: number) => {
    const id = spaceA.alloc(min, max);
    if (id < 0) return INVALID_IOASID;
    handedOut[0]!.set(id, 1);
    return id;
  };
  const freeA = (id: number) => {
    check(0, id);
    spaceA.remove(id);
  };
  const allocB = (min: number, max: number) => {
    const id = min + ((bCounter++ * 5) % (max - min + 4));
    handedOut[1]!.set(id, (handedOut[1]!.get(id) ?? 0) + 1);
    return id;
  };
  const freeB = (id: number) => check(1, id);
  const regs: IoasidAllocatorOps[] = [
    { alloc: allocA, free: freeA, pdata: 'A0' },
    { alloc: allocA, free: freeA, pdata: 'A1' },
    { alloc: allocB, free: freeB, pdata: 'B0' },
    { alloc: allocB, free: freeB, pdata: 'B1' },
  ];
  return { regs };
}

function errCode(e: unknown): string {
  if (e instanceof ErrnoError) return e.code;
  throw e;
}

function run(ops: Op[]): void {
  const a = new IoasidAllocator({ capacity: 12 });
  const sets = [a.allocSet({ quota: 3 }), a.allocSet({ quota: 5 }), a.allocSet({ quota: 2 })];
  const { regs } = customAllocators();
  const model = new Map<number, Model>();
  a.registerNotifier((ev) => {
    const m = model.get(ev.id);
    expect(m, `notified ${ev.id}, which is not live`).toBeDefined();
    expect(ev.set).toBe(m!.set);
    m!.reported++;
  });
  const live = () => [...model.keys()].sort((x, y) => x - y);
  const reclaim = (id: number) => {
    expect(model.get(id)!.reported, `ID ${id} reported once`).toBe(1);
    model.delete(id);
  };

  for (const op of ops) {
    const ids = live();
    const picked = ids.length ? ids[('pick' in op ? op.pick : 0) % ids.length]! : 999;
    switch (op.t) {
      case 'alloc': {
        const set = sets[op.set]!;
        const max = op.min + op.span;
        try {
          const id = a.alloc(set, op.min, max, op);
          expect(model.has(id), `ID ${id} handed out while live`).toBe(false);
          expect(id).toBeGreaterThanOrEqual(op.min);
          expect(id).toBeLessThanOrEqual(max);
          model.set(id, { set, refs: 1, pending: false, reported: 0, byDefault: a.activeAllocator === null });
        } catch (e) {
          expect(errCode(e)).toBe('ENOSPC');
        }
        break;
      }
      case 'free': {
        const m = model.get(picked);
        const set = m ? (op.wrongSet ? sets.find((s) => s !== m.set)! : m.set) : sets[0]!;
        try {
          a.free(set, picked);
          expect(m && !op.wrongSet).toBeTruthy();
          if (!m!.pending) {
            m!.pending = true;
            m!.refs--;
            expect(m!.reported).toBe(1);
          }
          if (m!.refs === 0) reclaim(picked);
        } catch (e) {
          expect(errCode(e)).toBe(m ? 'EACCES' : 'EINVAL');
        }
        break;
      }
      case 'get': {
        const m = model.get(picked);
        try {
          a.get(null, picked);
          expect(m && !m.pending).toBeTruthy();
          m!.refs++;
        } catch (e) {
          expect(errCode(e)).toBe(m ? 'EBUSY' : 'EINVAL');
        }
        break;
      }
      case 'put': {
        const m = model.get(picked);
        try {
          const freed = a.put(null, picked);
          m!.refs--;
          expect(freed).toBe(m!.refs === 0);
          if (freed) reclaim(picked);
        } catch (e) {
          expect(m).toBeUndefined();
          expect(errCode(e)).toBe('EINVAL');
        }
        break;
      }
      case 'freeAll': {
        const set = sets[op.set]!;
        a.freeAllInSet(set);
        for (const [id, m] of [...model]) {
          if (m.set !== set) continue;
          if (!m.pending) {
            m.pending = true;
            m.refs--;
          }
          expect(m.reported).toBe(1);
          if (m.refs === 0) reclaim(id);
        }
        break;
      }
      case 'register':
      case 'unregister': {
        const before = a.activeAllocator;
        try {
          if (op.t === 'register') a.registerAllocator(regs[op.k]!);
          else a.unregisterAllocator(regs[op.k]!);
          // The default allocator hands over only with no ID outstanding.
          if (before === null && a.activeAllocator !== null) expect([...model.values()].some((m) => m.byDefault)).toBe(false);
        } catch (e) {
          expect(['EAGAIN', 'EEXIST', 'EBUSY', 'ENOENT']).toContain(errCode(e));
          expect(a.activeAllocator).toBe(before);
        }
        break;
      }
    }
    // The allocator agrees with the model: same live IDs, sets within quota.
    expect(a.size).toBe(model.size);
    for (const [id, m] of model) expect(a.setOf(id)).toBe(m.set);
    for (const s of sets) {
      expect(s.size).toBeLessThanOrEqual(s.quota);
      expect(s.size).toBe([...model.values()].filter((m) => m.set === s).length);
    }
  }

  // Tear down: every ID goes back and each was reported exactly once; allocators then leave.
  for (const [id, m] of [...model]) {
    if (!m.pending) {
      a.free(m.set, id);
      m.refs--;
    }
    for (; m.refs > 0; m.refs--) expect(a.put(null, id)).toBe(m.refs === 1);
    expect(a.setOf(id)).toBeUndefined();
    expect(m.reported).toBe(1);
    model.delete(id);
  }
  expect(a.size).toBe(0);
  for (const r of regs) {
    try {
      a.unregisterAllocator(r);
    } catch (e) {
      expect(errCode(e)).toBe('ENOENT');
    }
  }
  expect(a.activeAllocator).toBeNull();
}

describe('IoasidAllocator properties', () => {
  it('random alloc/free/get/put/register/unregister never hands out a live ID twice, keeps quotas and reports each free once', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => run(ops)),
      { numRuns: 400 },
    );
  });
});
