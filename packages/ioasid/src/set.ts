// struct ioasid_set of the ioasid_set rework: IDs grouped per user (a VM, a driver) under a quota.
import { ErrnoError } from '@iommu-lab/platform';
import { IdSpace } from './id-space.js';
import { NotifierChain } from './notifier.js';

export interface IoasidSetOptions {
  /** How many IDs the set may hold at once; 0 or absent takes all the capacity still available. */
  quota?: number;
  /** Identifies the set for findSet (the rework's mm token); unique among live sets. */
  token?: object;
}

/** A handle on a set: its ID, quota, token and the IDs it holds (live and free-pending). */
export class IoasidSet {
  readonly #members: ReadonlySet<number>;

  constructor(
    readonly id: number,
    readonly quota: number,
    readonly token: object | undefined,
    members: ReadonlySet<number>,
  ) {
    this.#members = members;
  }

  /** nr_ioasids: IDs of the set not yet given back, free-pending ones included. */
  get size(): number {
    return this.#members.size;
  }

  has(id: number): boolean {
    return this.#members.has(id);
  }

  /** The set's IDs in ascending order (ioasid_set_for_each_ioasid). */
  ids(): number[] {
    return [...this.#members].sort((a, b) => a - b);
  }
}

/** What the allocator keeps about a live set. */
export interface IoasidSetRecord {
  readonly members: Set<number>;
  readonly notifiers: NotifierChain;
}

/** The live sets of one allocator instance and the capacity their quotas draw on. */
export class IoasidSetTable {
  private readonly records = new Map<IoasidSet, IoasidSetRecord>();
  private readonly setIds = new IdSpace();
  private avail: number;

  constructor(readonly capacity: number) {
    this.avail = capacity;
  }

  /** ioasid_capacity_avail: capacity not yet promised to a set's quota. */
  get available(): number {
    return this.avail;
  }

  get sets(): IoasidSet[] {
    return [...this.records.keys()];
  }

  /** ioasid_set_alloc: reserves the quota out of the available capacity. */
  alloc(opts: IoasidSetOptions = {}): IoasidSet {
    const asked = opts.quota ?? 0;
    if (!Number.isInteger(asked) || asked < 0) throw new ErrnoError('EINVAL', 'ioasid_set_alloc', `quota ${asked}`);
    const quota = asked === 0 ? this.avail : asked;
    // A set that could never hold an ID is refused too (the rework would create it empty).
    if (quota > this.avail || quota === 0) {
      throw new ErrnoError('ENOSPC', 'ioasid_set_alloc', `quota ${quota}, ${this.avail} of ${this.capacity} available`);
    }
    const token = opts.token;
    if (token !== undefined) {
      if (typeof token !== 'object' || token === null) throw new ErrnoError('EINVAL', 'ioasid_set_alloc', 'token must be an object');
      if (this.find(token)) throw new ErrnoError('EEXIST', 'ioasid_set_alloc', 'a set exists for this token');
    }
    const members = new Set<number>();
    const set = new IoasidSet(this.setIds.alloc(0, this.capacity), quota, token, members);
    this.records.set(set, { members, notifiers: new NotifierChain() });
    this.avail -= quota;
    return set;
  }

  /** ioasid_set_free: only an empty set goes; its quota returns to the capacity. */
  free(set: IoasidSet): void {
    const rec = this.record(set, 'ioasid_set_free');
    if (rec.members.size > 0) throw new ErrnoError('EBUSY', 'ioasid_set_free', `set ${set.id} still holds ${rec.members.size} IDs`);
    this.records.delete(set);
    this.setIds.remove(set.id);
    this.avail += set.quota;
  }

  /** ioasid_find_mm_set: the live set created with this token. */
  find(token: object): IoasidSet | undefined {
    for (const s of this.records.keys()) if (s.token === token) return s;
    return undefined;
  }

  /** The record of a live set of this table; EINVAL for a freed or foreign set (ioasid_set_is_valid). */
  record(set: IoasidSet, fn: string): IoasidSetRecord {
    const rec = this.records.get(set);
    if (!rec) throw new ErrnoError('EINVAL', fn, `set ${set.id} is not a live set of this allocator`);
    return rec;
  }
}
