// Physical frames: a buddy allocator over RAM plus per-frame reference and pin counts (struct page).
import { ErrnoError } from './errno.js';
import type { FaultInjector } from './fault-inject.js';
import { PAGE_SIZE, type PhysMem } from './phys-mem.js';

/** Largest block: 2^18 frames = 1 GiB. */
export const MAX_ORDER = 18;
export const HUGE_2M_ORDER = 9;
export const HUGE_1G_ORDER = 18;

/**
 * Frames are handed out zeroed with one reference. A frame returns to the free lists when its
 * last reference and last pin are gone; buddies coalesce. Frames below `reservedBytes` are never
 * allocated, so a zero table pointer never names live data.
 */
export class FrameAllocator {
  readonly totalFrames: number;
  readonly firstFrame: number;
  private readonly free: Set<number>[] = [];
  private readonly refs: Int32Array;
  private readonly pins: Int32Array;
  private readonly compound: Uint8Array;
  private freeFrames = 0;

  constructor(
    private readonly mem: PhysMem,
    private readonly faults?: FaultInjector,
    reservedBytes = 1 << 20,
  ) {
    this.totalFrames = mem.size / PAGE_SIZE;
    this.firstFrame = Math.ceil(reservedBytes / PAGE_SIZE);
    this.refs = new Int32Array(this.totalFrames);
    this.pins = new Int32Array(this.totalFrames);
    this.compound = new Uint8Array(this.totalFrames);
    for (let o = 0; o <= MAX_ORDER; o++) this.free.push(new Set());
    let pfn = this.firstFrame;
    while (pfn < this.totalFrames) {
      let order = MAX_ORDER;
      while (order > 0 && (pfn % 2 ** order !== 0 || pfn + 2 ** order > this.totalFrames)) order--;
      this.free[order]!.add(pfn);
      this.freeFrames += 2 ** order;
      pfn += 2 ** order;
    }
  }

  get available(): number {
    return this.freeFrames;
  }

  get used(): number {
    return this.totalFrames - this.firstFrame - this.freeFrames;
  }

  /** One zeroed frame with a reference count of 1. Throws ENOMEM when RAM is exhausted. */
  allocFrame(): number {
    return this.alloc(0);
  }

  /**
   * 2^order naturally aligned contiguous zeroed frames, each with one reference. A `compound`
   * block is a huge page: MD_CHECK_REFS-style callers skip its frames.
   */
  alloc(order: number, compound = false): number {
    this.faults?.check('alloc_pages');
    if (!Number.isInteger(order) || order < 0 || order > MAX_ORDER) throw new RangeError(`bad order ${order}`);
    let o = order;
    while (o <= MAX_ORDER && this.free[o]!.size === 0) o++;
    if (o > MAX_ORDER) {
      throw new ErrnoError('ENOMEM', 'alloc_pages', `no free block of ${2 ** order} frames (${this.freeFrames} frames free)`);
    }
    const set = this.free[o]!;
    const pfn = set.values().next().value as number;
    set.delete(pfn);
    while (o > order) {
      o--;
      this.free[o]!.add(pfn + 2 ** o);
    }
    const n = 2 ** order;
    this.freeFrames -= n;
    for (let i = 0; i < n; i++) {
      this.refs[pfn + i] = 1;
      this.compound[pfn + i] = compound ? 1 : 0;
    }
    return pfn;
  }

  isAllocated(pfn: number): boolean {
    return pfn >= this.firstFrame && pfn < this.totalFrames && (this.refs[pfn]! > 0 || this.pins[pfn]! > 0);
  }

  refCount(pfn: number): number {
    return this.refs[pfn]!;
  }

  pinCount(pfn: number): number {
    return this.pins[pfn]!;
  }

  isCompound(pfn: number): boolean {
    return this.compound[pfn] === 1;
  }

  /** Takes a reference on an allocated frame. */
  get(pfn: number): void {
    this.assertLive(pfn);
    this.refs[pfn]!++;
  }

  /** Drops a reference; the frame is freed when no reference and no pin remain. */
  put(pfn: number): void {
    this.assertLive(pfn);
    if (this.refs[pfn]! <= 0) throw new Error(`frame 0x${pfn.toString(16)}: reference count underflow`);
    if (--this.refs[pfn]! === 0 && this.pins[pfn] === 0) this.release(pfn);
  }

  /** FOLL_PIN: a pin keeps the frame alive and is visible to pin-count checks. */
  pin(pfn: number): void {
    this.assertLive(pfn);
    this.pins[pfn]!++;
  }

  unpin(pfn: number): void {
    this.assertLive(pfn);
    if (this.pins[pfn]! <= 0) throw new Error(`frame 0x${pfn.toString(16)}: pin count underflow`);
    if (--this.pins[pfn]! === 0 && this.refs[pfn] === 0) this.release(pfn);
  }

  private assertLive(pfn: number): void {
    if (!this.isAllocated(pfn)) throw new Error(`frame 0x${pfn.toString(16)} is not allocated`);
  }

  private release(pfn: number): void {
    this.mem.fill(pfn * PAGE_SIZE, PAGE_SIZE, 0);
    this.compound[pfn] = 0;
    this.freeFrames++;
    let block = pfn;
    let order = 0;
    while (order < MAX_ORDER) {
      const buddy = block ^ (2 ** order);
      if (buddy >= this.totalFrames || !this.free[order]!.delete(buddy)) break;
      block = Math.min(block, buddy);
      order++;
    }
    this.free[order]!.add(block);
  }
}
