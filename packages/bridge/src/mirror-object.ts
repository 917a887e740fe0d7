// Pages of a real process (or a real shared file) given simulated frames while the kernel uses them.
import { ErrnoError, type FrameAllocator, HUGE_2M_ORDER, MemObject, type MemObjectKind, PAGE_SHIFT, PAGE_SIZE, PHYS_CHUNK_SHIFT, type PhysMem } from '@iommu-lab/platform';

/** Pages read from the real process in one go (and the longest PageRun). */
export const MAX_RUN = 256;
/** Frames per 2 MiB chunk of PhysMem, minus one: a run of frames never crosses a chunk. */
const CHUNK_PAGES_MASK = (1 << (PHYS_CHUNK_SHIFT - PAGE_SHIFT)) - 1;

/** Consecutive populated pages with consecutive frames (one PhysMem chunk) and one snapshot buffer. */
export interface PageRun {
  readonly first: number;
  readonly count: number;
  readonly pfn: number;
  /** The snapshots of all `count` pages, back to back. */
  readonly snap: Uint8Array;
}

function finish(r: { first: number; count: number; pfn: number; snap: Uint8Array }): PageRun {
  return { first: r.first, count: r.count, pfn: r.pfn, snap: new Uint8Array(r.snap.buffer, r.snap.byteOffset, r.count * PAGE_SIZE) };
}

/** Where a mirrored page's real bytes are: a range of a real address space or a real file. */
export interface PageView {
  /** Reads pages from `index` on into dst (a multiple of PAGE_SIZE); false when no real page is there now. */
  readPage(index: number, dst: Uint8Array): boolean;
  writePage(index: number, src: Uint8Array): boolean;
  covers(index: number): boolean;
  /** One past the last page index this view covers contiguously from `index`. */
  runEnd(index: number): number;
}

/**
 * A MemObject whose frames stand for real pages: populating a page allocates a frame and copies
 * the real page into it (the snapshot remembers what was copied, so a later writeback can tell
 * which frames the simulated kernel changed). Unpinned pages are dropped again by trim().
 */
export class MirrorObject extends MemObject {
  private readonly frameOf = new Map<number, number>();
  /** The real bytes each populated page had when it was last made coherent. */
  readonly snapshots = new Map<number, Uint8Array>();
  readonly views = new Set<PageView>();
  private size: number;
  private refs = 1;
  /** Bumped whenever the populated set changes (runs() is cached per version). */
  private version = 0;
  private runCache: { version: number; runs: PageRun[] } = { version: -1, runs: [] };
  private gone = false;

  constructor(
    frames: FrameAllocator,
    mem: PhysMem,
    kind: MemObjectKind,
    npages: number,
    readonly key: string,
    private readonly onRelease: (o: MirrorObject) => void,
    /** A real file holding the pages (a memfd), read when no view covers a page. */
    public file: PageView | null = null,
  ) {
    super(frames, mem, kind, 0);
    this.size = npages;
  }

  override get npages(): number {
    return this.size;
  }

  override get shared(): boolean {
    return this.kind !== 'anon';
  }

  /** Populated (index, pfn) pairs. */
  get populated(): ReadonlyMap<number, number> {
    return this.frameOf;
  }

  override pfn(index: number): number {
    return this.frameOf.get(index) ?? 0;
  }

  override readPfn(index: number): number {
    return this.pfn(index);
  }

  override populate(index: number): number {
    const have = this.frameOf.get(index);
    if (have !== undefined) return have;
    this.populateRun(index, 1);
    return this.frameOf.get(index)!;
  }

  /** Populates pages [first, first + count), reading the real pages in runs (hugetlb: whole huge pages). */
  populateRun(first: number, count: number): void {
    if (first < 0 || first + count > this.size) throw new ErrnoError('EFAULT', 'fault', `pages ${first}+${count} beyond the object`);
    if (this.kind === 'pfnmap') throw new ErrnoError('EFAULT', 'fault', 'no struct page behind this mapping');
    const huge = this.hugeOrder ? 2 ** HUGE_2M_ORDER : 1;
    let i = first - (first % huge);
    while (i < first + count) {
      if (this.frameOf.has(i)) {
        i += huge;
        continue;
      }
      let n = huge;
      if (huge === 1) while (i + n < first + count && n < MAX_RUN && !this.frameOf.has(i + n)) n++;
      const pfns = new Uint32Array(n);
      if (huge > 1) {
        const base = this.frames.alloc(HUGE_2M_ORDER, true);
        for (let k = 0; k < n; k++) pfns[k] = base + k;
      } else {
        try {
          for (let k = 0; k < n; k++) pfns[k] = this.frames.allocFrame();
        } catch (e) {
          for (const p of pfns) if (p) this.frames.put(p);
          throw e;
        }
      }
      this.load(i, pfns);
      i += n;
    }
  }

  /** Copies the real pages into their new frames and remembers the copies. */
  private load(first: number, pfns: Uint32Array): void {
    const buf = new Uint8Array(pfns.length * PAGE_SIZE);
    const view = this.viewOf(first);
    const whole = view !== null && view.runEnd(first) >= first + pfns.length && view.readPage(first, buf);
    for (let k = 0; k < pfns.length; k++) {
      const snap = buf.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE);
      if (!whole && !this.readReal(first + k, snap)) snap.fill(0);
      this.mem.write(pfns[k]! * PAGE_SIZE, snap);
      this.frameOf.set(first + k, pfns[k]!);
      this.version++;
      this.snapshots.set(first + k, snap);
    }
  }

  /**
   * The populated pages as runs of consecutive indexes whose frames are consecutive and whose
   * snapshots are one buffer, so that coherence reads and compares a run at a time.
   */
  runs(): readonly PageRun[] {
    if (this.runCache.version === this.version) return this.runCache.runs;
    const idx = [...this.frameOf.keys()].sort((a, b) => a - b);
    const runs: PageRun[] = [];
    let cur: { first: number; count: number; pfn: number; snap: Uint8Array } | null = null;
    for (const i of idx) {
      const pfn = this.frameOf.get(i)!;
      const snap = this.snapshots.get(i)!;
      if (
        cur &&
        i === cur.first + cur.count &&
        pfn === cur.pfn + cur.count &&
        (pfn & CHUNK_PAGES_MASK) !== 0 &&
        cur.count < MAX_RUN &&
        snap.buffer === cur.snap.buffer &&
        snap.byteOffset === cur.snap.byteOffset + cur.count * PAGE_SIZE
      ) {
        cur.count++;
        continue;
      }
      if (cur) runs.push(finish(cur));
      cur = { first: i, count: 1, pfn, snap };
    }
    if (cur) runs.push(finish(cur));
    this.runCache = { version: this.version, runs };
    return runs;
  }

  /** The view that reaches page `index` (the file, else a mapping of it), or null. */
  viewOf(index: number): PageView | null {
    if (this.file !== null && this.file.covers(index)) return this.file;
    for (const v of this.views) if (v.covers(index)) return v;
    return null;
  }

  /** The real bytes of page `index`: from the file when there is one, else from a mapping. */
  readReal(index: number, dst: Uint8Array): boolean {
    if (this.file !== null && this.file.covers(index) && this.file.readPage(index, dst)) return true;
    for (const v of this.views) if (v.covers(index) && v.readPage(index, dst)) return true;
    return false;
  }

  /** Writes page `index` back to the real page; a shared page needs only one writer. */
  writeReal(index: number, src: Uint8Array): boolean {
    if (this.file !== null && this.file.covers(index) && this.file.writePage(index, src)) return true;
    for (const v of this.views) if (v.covers(index) && v.writePage(index, src)) return true;
    return false;
  }

  override resize(npages: number): void {
    this.size = npages;
  }

  override get(): this {
    this.refs++;
    return this;
  }

  override put(): void {
    if (--this.refs > 0) return;
    this.gone = true;
    for (const [index, pfn] of this.frameOf) {
      this.frames.put(pfn);
      this.snapshots.delete(index);
    }
    this.frameOf.clear();
    this.version++;
    this.onRelease(this);
  }

  get released(): boolean {
    return this.gone;
  }

  override copy(): MemObject {
    throw new Error('a mirrored object is copied by the real fork, not by the simulator');
  }

  /** Forgets pages [first, last]: the real pages behind them are gone (munmap); pins keep the frames. */
  detach(first: number, last: number): void {
    for (const [index, pfn] of this.frameOf) {
      if (index < first || index > last) continue;
      this.frameOf.delete(index);
      this.version++;
      this.snapshots.delete(index);
      this.frames.put(pfn);
    }
  }

  /** Drops every populated page nobody pins (a huge page only when none of its frames is pinned). */
  trim(): void {
    const huge = this.hugeOrder ? 2 ** this.hugeOrder : 1;
    for (const [index, pfn] of this.frameOf) {
      if (huge > 1 && index % huge !== 0) continue;
      let pinned = false;
      for (let i = 0; i < huge && !pinned; i++) pinned = this.frames.pinCount(pfn + i) > 0;
      if (pinned) continue;
      for (let i = 0; i < huge; i++) {
        const p = this.frameOf.get(index + i);
        if (p === undefined) continue;
        this.frameOf.delete(index + i);
        this.version++;
        this.snapshots.delete(index + i);
        this.frames.put(p);
      }
    }
  }
}
