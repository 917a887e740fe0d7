// A set-associative translation cache in typed arrays: the IOTLB shape both vendor models share.

export interface TlbStats {
  hits: number;
  misses: number;
  fills: number;
  evictions: number;
  invalidated: number;
}

const EMPTY = -1;
/** Ranges up to this many pages are invalidated by probing their sets instead of scanning every entry. */
const RANGE_PROBE_PAGES = 64;

/**
 * Entries map (tag, input page) to (output page, permission bits) for a page of 2^(9*(level-1))
 * 4 KiB pages. The tag is the vendor's cache key (DID and PASID, or VMID and ASID), a number
 * below 2^53. Lookups allocate nothing; a full set evicts its oldest entry; an entry stays until
 * an invalidation removes it, stale or not, exactly as hardware behaves.
 */
export class TlbCache {
  readonly stats: TlbStats = { hits: 0, misses: 0, fills: 0, evictions: 0, invalidated: 0 };
  private readonly tags: Float64Array;
  private readonly inPfns: Float64Array;
  private readonly outPfns: Float64Array;
  private readonly perms: Uint8Array;
  private readonly levels: Uint8Array;
  private readonly ages: Uint32Array;
  private readonly setMask: number;
  private clock = 0;
  /** Which page levels (1..3) have live entries, so a lookup probes only those. */
  private levelMask = 0;
  /** Slot of the last hit or fill. */
  slot = -1;

  constructor(
    readonly name: string,
    readonly sets = 1024,
    readonly ways = 4,
  ) {
    if (sets & (sets - 1)) throw new RangeError(`${name}: sets must be a power of two`);
    const n = sets * ways;
    this.tags = new Float64Array(n).fill(EMPTY);
    this.inPfns = new Float64Array(n);
    this.outPfns = new Float64Array(n);
    this.perms = new Uint8Array(n);
    this.levels = new Uint8Array(n);
    this.ages = new Uint32Array(n);
    this.setMask = sets - 1;
  }

  get capacity(): number {
    return this.sets * this.ways;
  }

  /** Live entries. */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.tags.length; i++) if (this.tags[i] !== EMPTY) n++;
    return n;
  }

  private setOf(tag: number, base: number, level: number): number {
    return (((tag * 0x9e37 + base + level * 0x45d9f3b) >>> 0) & this.setMask) * this.ways;
  }

  /** The output PFN for inPfn under tag, or -1 on a miss; on a hit `slot` names the entry. */
  lookup(tag: number, inPfn: number): number {
    for (let level = 1; level <= 3; level++) {
      if ((this.levelMask & (1 << level)) === 0) continue;
      const span = level === 1 ? 1 : level === 2 ? 512 : 262144;
      const base = inPfn - (inPfn % span);
      const set = this.setOf(tag, base, level);
      for (let w = 0; w < this.ways; w++) {
        const i = set + w;
        if (this.tags[i] === tag && this.inPfns[i] === base && this.levels[i] === level) {
          this.stats.hits++;
          this.ages[i] = ++this.clock;
          this.slot = i;
          return this.outPfns[i]! + (inPfn - base);
        }
      }
    }
    this.stats.misses++;
    this.slot = -1;
    return -1;
  }

  /** Permission bits of the entry at `slot` (after a hit). */
  perm(slot = this.slot): number {
    return this.perms[slot]!;
  }

  level(slot = this.slot): number {
    return this.levels[slot]!;
  }

  /** Caches (tag, page containing inPfn at level) -> the matching output page. */
  fill(tag: number, inPfn: number, outPfn: number, level: number, perm: number): void {
    const span = level === 1 ? 1 : level === 2 ? 512 : 262144;
    const base = inPfn - (inPfn % span);
    const outBase = outPfn - (inPfn - base);
    const set = this.setOf(tag, base, level);
    let victim = set;
    for (let w = 0; w < this.ways; w++) {
      const i = set + w;
      if (this.tags[i] === tag && this.inPfns[i] === base && this.levels[i] === level) {
        victim = i;
        break;
      }
      if (this.tags[i] === EMPTY) {
        victim = i;
        break;
      }
      if (this.ages[i]! < this.ages[victim]!) victim = i;
    }
    if (this.tags[victim] !== EMPTY && !(this.tags[victim] === tag && this.inPfns[victim] === base)) this.stats.evictions++;
    this.tags[victim] = tag;
    this.inPfns[victim] = base;
    this.outPfns[victim] = outBase;
    this.perms[victim] = perm;
    this.levels[victim] = level;
    this.ages[victim] = ++this.clock;
    this.levelMask |= 1 << level;
    this.slot = victim;
    this.stats.fills++;
  }

  /** Removes the entries drop() picks; returns how many went. */
  invalidateWhere(drop: (tag: number, inPfn: number, pages: number) => boolean): number {
    let n = 0;
    for (let i = 0; i < this.tags.length; i++) {
      const t = this.tags[i]!;
      if (t === EMPTY) continue;
      const level = this.levels[i]!;
      if (drop(t, this.inPfns[i]!, level === 1 ? 1 : level === 2 ? 512 : 262144)) {
        this.tags[i] = EMPTY;
        n++;
      }
    }
    this.stats.invalidated += n;
    return n;
  }

  /** Every entry of a tag. */
  invalidateTag(tag: number): number {
    return this.invalidateWhere((t) => t === tag);
  }

  /** Entries of a tag that overlap [firstPfn, firstPfn + npages). */
  invalidateRange(tag: number, firstPfn: number, npages: number): number {
    const end = firstPfn + npages;
    if (npages <= RANGE_PROBE_PAGES) return this.probeRange(tag, firstPfn, end);
    return this.invalidateWhere((t, base, pages) => t === tag && base < end && base + pages > firstPfn);
  }

  /** A small range: look only in the sets its pages can occupy at each live level (fill puts them nowhere else). */
  private probeRange(tag: number, first: number, end: number): number {
    let n = 0;
    for (let level = 1; level <= 3; level++) {
      if ((this.levelMask & (1 << level)) === 0) continue;
      const span = level === 1 ? 1 : level === 2 ? 512 : 262144;
      for (let base = first - (first % span); base < end; base += span) {
        const set = this.setOf(tag, base, level);
        for (let w = 0; w < this.ways; w++) {
          const i = set + w;
          if (this.tags[i] === tag && this.inPfns[i] === base && this.levels[i] === level) {
            this.tags[i] = EMPTY;
            n++;
          }
        }
      }
    }
    this.stats.invalidated += n;
    return n;
  }

  invalidateAll(): number {
    const n = this.size;
    this.tags.fill(EMPTY);
    this.levelMask = 0;
    this.stats.invalidated += n;
    return n;
  }

  /** Every live entry (for dumps and the missing-invalidation detector). */
  *entries(): IterableIterator<{ tag: number; inPfn: number; outPfn: number; level: number; perm: number }> {
    for (let i = 0; i < this.tags.length; i++) {
      if (this.tags[i] === EMPTY) continue;
      yield { tag: this.tags[i]!, inPfn: this.inPfns[i]!, outPfn: this.outPfns[i]!, level: this.levels[i]!, perm: this.perms[i]! };
    }
  }
}
