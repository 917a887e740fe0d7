// The guest's IOVA allocator (Linux drivers/iommu/iova.c): size-aligned ranges handed out top-down below a
// limit, with per-size caches in front (the rcache) so a freed range of a common size is reused at once.

/** IOVA_RANGE_CACHE_MAX_SIZE: sizes up to 2^5 pages are cached. */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** How many ranges each size cache keeps before returning ranges to the tree. */
const RCACHE_DEPTH = 4096;

export class IovaDomain {
  /** Free extents [start, end) in pages, sorted, non-adjacent. */
  private starts: number[] = [];
  private ends: number[] = [];
  /** rcache: free ranges of 2^order pages, per order. */
  private readonly rcache: number[][] = Array.from({ length: IOVA_RANGE_CACHE_MAX_SIZE }, () => []);
  allocated = 0;

  constructor(
    /** First usable page (base_pfn: at least 1, so IOVA 0 is never handed out). */
    readonly startPfn: number,
    /** One past the last usable page (the domain aperture). */
    readonly endPfn: number,
    /** Reserved ranges [start, end) in pages (the MSI window), never handed out. */
    reserved: readonly [number, number][] = [],
  ) {
    this.starts.push(startPfn);
    this.ends.push(endPfn);
    for (const [s, e] of reserved) this.carve(s, e);
  }

  /** alloc_iova_fast: `pages` pages aligned to their power-of-two size, below limitPfn; -1 when none is free. */
  alloc(pages: number, limitPfn: number): number {
    const order = Math.ceil(Math.log2(pages));
    if (order < IOVA_RANGE_CACHE_MAX_SIZE && 2 ** order === pages) {
      const cache = this.rcache[order]!;
      for (let i = cache.length - 1; i >= 0; i--) {
        const pfn = cache[i]!;
        if (pfn + pages <= limitPfn) {
          cache[i] = cache[cache.length - 1]!;
          cache.pop();
          this.allocated += pages;
          return pfn;
        }
      }
    }
    const align = 2 ** order;
    for (let i = this.starts.length - 1; i >= 0; i--) {
      const top = Math.min(this.ends[i]!, limitPfn);
      if (top <= this.starts[i]!) continue;
      const pfn = Math.floor((top - pages) / align) * align;
      if (pfn >= this.starts[i]!) {
        this.carve(pfn, pfn + pages);
        this.allocated += pages;
        return pfn;
      }
    }
    return -1;
  }

  /** free_iova_fast: back to the size cache, or to the free extents. */
  free(pfn: number, pages: number): void {
    this.allocated -= pages;
    const order = Math.log2(pages);
    if (Number.isInteger(order) && order < IOVA_RANGE_CACHE_MAX_SIZE) {
      const cache = this.rcache[order]!;
      if (cache.length < RCACHE_DEPTH) {
        cache.push(pfn);
        return;
      }
    }
    this.insert(pfn, pfn + pages);
  }

  /** Removes [s, e) from the free extents (it must be free or partly outside them). */
  private carve(s: number, e: number): void {
    for (let i = 0; i < this.starts.length; i++) {
      const a = this.starts[i]!;
      const b = this.ends[i]!;
      if (e <= a || s >= b) continue;
      const parts: [number, number][] = [];
      if (a < s) parts.push([a, s]);
      if (e < b) parts.push([e, b]);
      this.starts.splice(i, 1, ...parts.map((p) => p[0]));
      this.ends.splice(i, 1, ...parts.map((p) => p[1]));
      i += parts.length - 1;
    }
  }

  /** Adds [s, e) to the free extents, merging neighbours. */
  private insert(s: number, e: number): void {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! < s) lo = mid + 1;
      else hi = mid;
    }
    const prev = lo - 1;
    if (prev >= 0 && this.ends[prev]! > s) throw new RangeError(`IOVA double free at page 0x${s.toString(16)}`);
    if (lo < this.starts.length && this.starts[lo]! < e) throw new RangeError(`IOVA double free at page 0x${s.toString(16)}`);
    const joinPrev = prev >= 0 && this.ends[prev] === s;
    const joinNext = lo < this.starts.length && this.starts[lo] === e;
    if (joinPrev && joinNext) {
      this.ends[prev] = this.ends[lo]!;
      this.starts.splice(lo, 1);
      this.ends.splice(lo, 1);
    } else if (joinPrev) {
      this.ends[prev] = e;
    } else if (joinNext) {
      this.starts[lo] = s;
    } else {
      this.starts.splice(lo, 0, s);
      this.ends.splice(lo, 0, e);
    }
  }
}
