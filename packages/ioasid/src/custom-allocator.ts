// Custom IOASID allocators ("ioasid: Add custom IOASID allocator"): sharing, order, the active one.
import { ErrnoError } from '@iommu-lab/platform';
import type { IoasidAllocatorOps } from './types.js';

type AllocFn = IoasidAllocatorOps['alloc'];
type FreeFn = IoasidAllocatorOps['free'];

/** Registrations with the same alloc/free helpers: one allocator, one ID space (one per VM). */
export class CustomAllocator {
  /** The registrations in the order they came (one per vIOMMU). */
  readonly sharers: IoasidAllocatorOps[] = [];
  /** IDs handed out through this allocator and not yet given back to it. */
  outstanding = 0;

  constructor(
    readonly alloc: AllocFn,
    readonly free: FreeFn,
  ) {}

  /** The registration whose pdata the helpers get: the earliest one still registered. */
  get lead(): IoasidAllocatorOps {
    return this.sharers[0]!;
  }

  callAlloc(min: number, max: number): number {
    const ops = this.lead;
    return ops.alloc(min, max, ops.pdata);
  }

  callFree(id: number): void {
    const ops = this.lead;
    ops.free(id, ops.pdata);
  }
}

/** The registered custom allocators in registration order; the first is the active one. */
export class CustomAllocatorList {
  private readonly list: CustomAllocator[] = [];

  /** The active custom allocator, or null while the default allocator is active. */
  get active(): CustomAllocator | null {
    return this.list[0] ?? null;
  }

  get allocators(): readonly CustomAllocator[] {
    return this.list;
  }

  /** The allocator that `ops` is registered with. */
  of(ops: IoasidAllocatorOps): CustomAllocator | undefined {
    return this.list.find((a) => a.sharers.includes(ops));
  }

  /**
   * ioasid_register_allocator. The first registration takes over from the default allocator,
   * which must have no ID outstanding; later ones either join the allocator with the same
   * helpers or queue behind the active one.
   */
  register(ops: IoasidAllocatorOps, defaultOutstanding: number): CustomAllocator {
    const fn = 'ioasid_register_allocator';
    if (typeof ops?.alloc !== 'function' || typeof ops.free !== 'function') throw new ErrnoError('EINVAL', fn, 'ops need alloc and free');
    // The kernel compares only each allocator's first ops; re-adding a sharer would corrupt its list.
    if (this.of(ops)) throw new ErrnoError('EEXIST', fn, 'these ops are already registered');
    if (this.list.length === 0 && defaultOutstanding > 0) {
      // The kernel refuses with -EAGAIN ("Default allocator active with outstanding IOASID").
      throw new ErrnoError('EAGAIN', fn, `the default allocator has ${defaultOutstanding} IDs outstanding`);
    }
    let ca = this.list.find((a) => a.alloc === ops.alloc && a.free === ops.free);
    if (!ca) this.list.push((ca = new CustomAllocator(ops.alloc, ops.free)));
    ca.sharers.push(ops);
    return ca;
  }

  /**
   * ioasid_unregister_allocator. A sharer leaves and its allocator's IDs stay; the last one
   * takes the allocator away, and the next registered one (or the default) becomes active.
   */
  unregister(ops: IoasidAllocatorOps): void {
    const fn = 'ioasid_unregister_allocator';
    const ca = this.of(ops);
    if (!ca) throw new ErrnoError('ENOENT', fn, 'these ops are not registered');
    if (ca.sharers.length === 1 && ca.outstanding > 0) {
      // The kernel WARNs and orphans them; refusing keeps every live ID freeable and unique.
      throw new ErrnoError('EBUSY', fn, `the allocator still has ${ca.outstanding} IDs outstanding`);
    }
    ca.sharers.splice(ca.sharers.indexOf(ops), 1);
    if (ca.sharers.length === 0) this.list.splice(this.list.indexOf(ca), 1);
  }
}
