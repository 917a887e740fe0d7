// The pages behind a mapping: anonymous memory, shared memory (shmem, memfd), hugetlb, or fixed PFNs.
import { ErrnoError } from './errno.js';
import { type FrameAllocator, HUGE_2M_ORDER } from './frame-allocator.js';
import { PAGE_SIZE, type PhysMem } from './phys-mem.js';

export type MemObjectKind = 'anon' | 'shmem' | 'memfd' | 'file' | 'hugetlb' | 'pfnmap';

/** Where a private file mapping reads pages it has not copied yet. */
export interface PrivateSource {
  readonly obj: MemObject;
  readonly pgoff: number;
}

/**
 * A page array (PFN per page index, 0 = not populated yet) with a reference count held by
 * mappings and files. Pages are populated lazily and zeroed; each populated page holds one frame
 * reference, so a pinned page outlives the object. A private object with a `source` holds a
 * reference on it and copies a source page when it first populates that index.
 */
export class MemObject {
  private pages: Uint32Array;
  private users = 1;
  /** Each hugetlb page is 2^hugeOrder frames; 0 for ordinary pages. */
  readonly hugeOrder: number;

  constructor(
    readonly frames: FrameAllocator,
    readonly mem: PhysMem,
    readonly kind: MemObjectKind,
    npages: number,
    readonly source?: PrivateSource,
  ) {
    this.hugeOrder = kind === 'hugetlb' ? HUGE_2M_ORDER : 0;
    if (this.hugeOrder && npages % 2 ** this.hugeOrder !== 0) {
      throw new ErrnoError('EINVAL', 'mmap', 'hugetlb length must be a multiple of 2 MiB');
    }
    this.pages = new Uint32Array(npages);
  }

  /** Fixed frames not owned by the object (device or MMIO pages mapped into a process). */
  static pfnmap(frames: FrameAllocator, mem: PhysMem, pfns: readonly number[]): MemObject {
    const o = new MemObject(frames, mem, 'pfnmap', pfns.length);
    o.pages.set(pfns);
    return o;
  }

  get npages(): number {
    return this.pages.length;
  }

  get shared(): boolean {
    return this.kind !== 'anon';
  }

  /** Populated PFN of page `index`, or 0. */
  pfn(index: number): number {
    return this.pages[index]!;
  }

  /** The PFN of page `index`, allocating (and for private copies, copying) it on first use. */
  populate(index: number): number {
    const have = this.pages[index]!;
    if (have !== 0) return have;
    if (index < 0 || index >= this.pages.length) throw new ErrnoError('EFAULT', 'fault', `page ${index} beyond object`);
    if (this.kind === 'pfnmap') throw new ErrnoError('EFAULT', 'fault', 'pfnmap page missing');
    if (this.hugeOrder) {
      const n = 2 ** this.hugeOrder;
      const first = index - (index % n);
      const base = this.frames.alloc(this.hugeOrder, true);
      for (let i = 0; i < n; i++) this.pages[first + i] = base + i;
      return this.pages[index]!;
    }
    const pfn = this.frames.allocFrame();
    const src = this.source ? this.source.obj.pfn(this.source.pgoff + index) : 0;
    if (src !== 0) this.mem.copy(pfn * PAGE_SIZE, src * PAGE_SIZE, PAGE_SIZE);
    this.pages[index] = pfn;
    return pfn;
  }

  /** The frame a read of page `index` sees without populating: own page, private source, or 0 (zero page). */
  readPfn(index: number): number {
    const own = this.pages[index]!;
    if (own !== 0 || !this.source) return own;
    return this.source.obj.pfn(this.source.pgoff + index);
  }

  /** ftruncate: grow with unpopulated pages or drop pages past the new end. */
  resize(npages: number): void {
    if (this.kind === 'pfnmap') throw new ErrnoError('EINVAL', 'ftruncate', 'cannot resize a pfnmap');
    if (this.hugeOrder && npages % 2 ** this.hugeOrder !== 0) {
      throw new ErrnoError('EINVAL', 'ftruncate', 'hugetlb size must be a multiple of 2 MiB');
    }
    const old = this.pages;
    if (npages < old.length) this.putPages(npages, old.length);
    this.pages = new Uint32Array(npages);
    this.pages.set(old.subarray(0, Math.min(npages, old.length)));
  }

  get(): this {
    this.users++;
    return this;
  }

  /** Drops a user; the last one releases every populated page. */
  put(): void {
    if (--this.users > 0) return;
    this.putPages(0, this.pages.length);
    this.source?.obj.put();
  }

  /** A private copy for fork(): every populated page copied into a fresh frame. */
  copy(): MemObject {
    this.source?.obj.get();
    const c = new MemObject(this.frames, this.mem, this.kind, this.pages.length, this.source);
    for (let i = 0; i < this.pages.length; i++) {
      const pfn = this.pages[i]!;
      if (pfn === 0) continue;
      const n = this.frames.allocFrame();
      this.mem.copy(n * PAGE_SIZE, pfn * PAGE_SIZE, PAGE_SIZE);
      c.pages[i] = n;
    }
    return c;
  }

  private putPages(from: number, to: number): void {
    if (this.kind === 'pfnmap') return;
    for (let i = from; i < to; i++) {
      const pfn = this.pages[i]!;
      if (pfn !== 0) {
        this.pages[i] = 0;
        this.frames.put(pfn);
      }
    }
  }
}
