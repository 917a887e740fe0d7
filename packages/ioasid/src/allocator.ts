// One system's IOASID allocator (drivers/iommu/ioasid.c): IDs in sets, references, custom allocators.
import { ErrnoError } from '@iommu-lab/platform';
import { type CustomAllocator, CustomAllocatorList } from './custom-allocator.js';
import { IdSpace } from './id-space.js';
import { IOASID_PRIO_LAST, NotifierChain } from './notifier.js';
import { type IoasidSet, type IoasidSetOptions, IoasidSetTable } from './set.js';
import { INVALID_IOASID, IOASID_MAX, type IoasidAllocatorOps, type IoasidNotifier, PCI_PASID_MAX } from './types.js';

/** struct ioasid_data: one allocated ID. */
interface IoasidData {
  readonly id: number;
  readonly set: IoasidSet;
  private: unknown;
  refs: number;
  /** Freed by its owner or lost its last reference: notified once, never handed a new reference. */
  freePending: boolean;
  /** Inside the free notification: a put reaching zero leaves the reclaim to the notifying call. */
  notifying: boolean;
  /** The custom allocator that handed it out (and gets it back), or null for the default one. */
  readonly allocator: CustomAllocator | null;
}

export interface IoasidAllocatorOptions {
  /** IDs the system can give out across all set quotas (ioasid_install_capacity); PCI_PASID_MAX by default. */
  capacity?: number;
}

export interface IoasidNotifierOptions {
  /** Only IDs of this set (a per-set chain); the system-wide chain when absent. */
  set?: IoasidSet;
  /** enum ioasid_notifier_prios: higher is called first. */
  priority?: number;
}

function isIoasid(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= IOASID_MAX;
}

/**
 * The IOASID (PASID) allocator of one system: a host, or a guest kernel inside a VM. Nothing is
 * module-global, so a host and each of its guests own separate instances.
 */
export class IoasidAllocator {
  private readonly ids = new Map<number, IoasidData>();
  private readonly defaultSpace = new IdSpace();
  private readonly customs = new CustomAllocatorList();
  private readonly sets: IoasidSetTable;
  private readonly notifiers = new NotifierChain();

  constructor(opts: IoasidAllocatorOptions = {}) {
    const capacity = opts.capacity ?? PCI_PASID_MAX;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > IOASID_MAX + 1) throw new RangeError(`IOASID capacity ${capacity}`);
    this.sets = new IoasidSetTable(capacity);
  }

  get capacity(): number {
    return this.sets.capacity;
  }

  /** Capacity not yet promised to a set's quota. */
  get available(): number {
    return this.sets.available;
  }

  /** IDs allocated and not yet given back, free-pending ones included. */
  get size(): number {
    return this.ids.size;
  }

  /** The registration whose allocator is active, or null while the default allocator is. */
  get activeAllocator(): IoasidAllocatorOps | null {
    return this.customs.active?.lead ?? null;
  }

  allocSet(opts?: IoasidSetOptions): IoasidSet {
    return this.sets.alloc(opts);
  }

  freeSet(set: IoasidSet): void {
    this.sets.free(set);
  }

  findSet(token: object): IoasidSet | undefined {
    return this.sets.find(token);
  }

  /**
   * ioasid_alloc: an ID in [min, max] for `set`, carrying `priv`. The kernel returns
   * INVALID_IOASID for every failure; its callers (intel-svm, VFIO) turn that into -ENOSPC, so a
   * full range, a set at its quota or an allocator with nothing to give is ENOSPC, and a bad
   * set or range (no ID could ever satisfy it) is EINVAL.
   */
  alloc(set: IoasidSet, min: number, max: number, priv?: unknown): number {
    const fn = 'ioasid_alloc';
    const rec = this.sets.record(set, fn);
    if (!isIoasid(min) || !isIoasid(max) || min > max) throw new ErrnoError('EINVAL', fn, `range [${min}, ${max}]`);
    if (rec.members.size >= set.quota) throw new ErrnoError('ENOSPC', fn, `set ${set.id} is at its quota of ${set.quota}`);
    const ca = this.customs.active;
    let id: number;
    if (!ca) {
      id = this.defaultSpace.alloc(min, max);
      if (id < 0) throw new ErrnoError('ENOSPC', fn, `no free ID in [${min}, ${max}]`);
    } else {
      id = ca.callAlloc(min, max);
      if (id === INVALID_IOASID) throw new ErrnoError('ENOSPC', fn, 'the custom allocator has no ID');
      if (!isIoasid(id)) throw new ErrnoError('ENOSPC', fn, `the custom allocator answered ${id}`);
      // A live ID stays with its owner; one outside the range goes back to the allocator.
      if (this.ids.has(id)) throw new ErrnoError('ENOSPC', fn, `the custom allocator answered live ID ${id}`);
      if (id < min || id > max) {
        ca.callFree(id);
        throw new ErrnoError('ENOSPC', fn, `the custom allocator answered ${id}, outside [${min}, ${max}]`);
      }
      ca.outstanding++;
    }
    this.ids.set(id, { id, set, private: priv, refs: 1, freePending: false, notifying: false, allocator: ca });
    rec.members.add(id);
    return id;
  }

  /**
   * ioasid_free: the owner gives the ID up. Notifiers hear of it once, synchronously, while it is
   * still allocated; it goes back to its allocator when the last reference is put.
   */
  free(set: IoasidSet, id: number): void {
    const d = this.lookup(set, id, 'ioasid_free');
    if (d.freePending) return; // freeing twice is allowed and notifies once (level-triggered)
    d.freePending = true;
    d.refs--;
    const failed = this.notify(d);
    if (d.refs === 0) this.reclaim(d);
    if (failed) throw failed.error;
  }

  /** ioasid_free_all_in_set: frees every ID of the set (a VM going away). */
  freeAllInSet(set: IoasidSet): void {
    this.sets.record(set, 'ioasid_free_all_in_set');
    let failed: { error: unknown } | undefined;
    for (const id of set.ids()) {
      try {
        this.free(set, id);
      } catch (error) {
        failed ??= { error };
      }
    }
    if (failed) throw failed.error;
  }

  /** ioasid_get: takes a reference; a null set skips the ownership check. */
  get(set: IoasidSet | null, id: number): void {
    const d = this.lookup(set, id, 'ioasid_get', true);
    d.refs++;
  }

  /** ioasid_put: drops a reference; true when it was the last one and the ID is freed. */
  put(set: IoasidSet | null, id: number): boolean {
    const fn = 'ioasid_put';
    const d = this.lookup(set, id, fn);
    if (d.refs === 0) throw new ErrnoError('EINVAL', fn, `IOASID ${id} has no reference left`);
    if (--d.refs > 0) return false;
    if (d.notifying) return true; // the free being notified reclaims it when its notifiers return
    let failed: { error: unknown } | undefined;
    if (!d.freePending) {
      d.freePending = true;
      failed = this.notify(d);
    }
    this.reclaim(d);
    if (failed) throw failed.error;
    return true;
  }

  /**
   * ioasid_find: the private data of an ID. ENOENT when it is not allocated, EACCES when `set` is
   * given and does not own it; null when `getter` rejects the data (a type check, or a getter
   * that takes its own reference and may refuse).
   */
  find<T>(set: IoasidSet | null, id: number, getter: (priv: unknown) => priv is T): T | null;
  find(set: IoasidSet | null, id: number, getter?: (priv: unknown) => boolean): unknown;
  find(set: IoasidSet | null, id: number, getter?: (priv: unknown) => boolean): unknown {
    const d = this.ids.get(id);
    if (!d) throw new ErrnoError('ENOENT', 'ioasid_find', `IOASID ${id} is not allocated`);
    if (set && d.set !== set) throw new ErrnoError('EACCES', 'ioasid_find', `IOASID ${id} is not in set ${set.id}`);
    if (getter && !getter(d.private)) return null;
    return d.private;
  }

  /** ioasid_set_data: replaces the private data of an allocated ID. */
  setData(id: number, data: unknown): void {
    const d = this.ids.get(id);
    if (!d) throw new ErrnoError('ENOENT', 'ioasid_set_data', `IOASID ${id} is not allocated`);
    d.private = data;
  }

  /** The set that owns an allocated ID, or undefined (ioasid_find_set). */
  setOf(id: number): IoasidSet | undefined {
    return this.ids.get(id)?.set;
  }

  registerAllocator(ops: IoasidAllocatorOps): void {
    this.customs.register(ops, this.defaultSpace.size);
  }

  unregisterAllocator(ops: IoasidAllocatorOps): void {
    this.customs.unregister(ops);
  }

  /** ioasid_register_notifier: `fn` hears of every freed ID (of `opts.set` only, if given). */
  registerNotifier(fn: IoasidNotifier, opts: IoasidNotifierOptions = {}): void {
    const chain = opts.set ? this.sets.record(opts.set, 'ioasid_register_notifier').notifiers : this.notifiers;
    chain.register(fn, opts.priority ?? IOASID_PRIO_LAST, 'ioasid_register_notifier');
  }

  unregisterNotifier(fn: IoasidNotifier, set?: IoasidSet): void {
    const chain = set ? this.sets.record(set, 'ioasid_unregister_notifier').notifiers : this.notifiers;
    chain.unregister(fn, 'ioasid_unregister_notifier');
  }

  /** An allocated ID for get/put/free: EINVAL when unknown, EACCES outside `set` (the set rework's rules). */
  private lookup(set: IoasidSet | null, id: number, fn: string, forGet = false): IoasidData {
    const d = this.ids.get(id);
    if (!d) throw new ErrnoError('EINVAL', fn, `IOASID ${id} is not allocated`);
    if (forGet && d.freePending) throw new ErrnoError('EBUSY', fn, `IOASID ${id} is being freed`);
    if (set && d.set !== set) throw new ErrnoError('EACCES', fn, `IOASID ${id} is not in set ${set.id}`);
    return d;
  }

  /** IOASID_NOTIFY_FREE on the system-wide chain, then on the set's chain. */
  private notify(d: IoasidData): { error: unknown } | undefined {
    const event = { id: d.id, set: d.set, private: d.private };
    d.notifying = true;
    try {
      const a = this.notifiers.call(event);
      const b = this.sets.record(d.set, 'ioasid_notify').notifiers.call(event);
      return a ?? b;
    } finally {
      d.notifying = false;
    }
  }

  /** Gives the ID back to the allocator that handed it out. */
  private reclaim(d: IoasidData): void {
    this.ids.delete(d.id);
    this.sets.record(d.set, 'ioasid_free').members.delete(d.id);
    if (!d.allocator) {
      this.defaultSpace.remove(d.id);
      return;
    }
    d.allocator.outstanding--;
    d.allocator.callFree(d.id);
  }
}
