// Lowest-free ID allocation over the u32 IOASID space, as xa_alloc() gives the default allocator.

const CHUNK_SHIFT = 10;
const CHUNK_IDS = 1 << CHUNK_SHIFT;
const WORDS = CHUNK_IDS >>> 5;
/** Word WORDS of a chunk holds how many of its IDs are taken, so full chunks are skipped whole. */
const POP = WORDS;

/**
 * A sparse bitmap of taken IDs in 1024-ID chunks (typed arrays, created on first use, dropped
 * when empty). `alloc(min, max)` returns the lowest free ID in [min, max], like xa_alloc with
 * XA_LIMIT(min, max); the cost is bounded by the chunks already in use, not by the range.
 */
export class IdSpace {
  private readonly chunks = new Map<number, Uint32Array>();
  private taken = 0;

  /** How many IDs are taken. */
  get size(): number {
    return this.taken;
  }

  has(id: number): boolean {
    const c = this.chunks.get(Math.floor(id / CHUNK_IDS));
    if (!c) return false;
    const bit = id % CHUNK_IDS;
    return (c[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }

  /** Takes the lowest free ID in [min, max]; -1 when every ID there is taken. */
  alloc(min: number, max: number): number {
    if (min > max) return -1;
    const last = Math.floor(max / CHUNK_IDS);
    for (let ci = Math.floor(min / CHUNK_IDS); ci <= last; ci++) {
      const base = ci * CHUNK_IDS;
      const from = Math.max(min, base) - base;
      const to = Math.min(max, base + CHUNK_IDS - 1) - base;
      let c = this.chunks.get(ci);
      if (!c) {
        c = new Uint32Array(WORDS + 1);
        this.chunks.set(ci, c);
        this.mark(c, from);
        return base + from;
      }
      if (c[POP] === CHUNK_IDS) continue;
      const bit = lowestClear(c, from, to);
      if (bit < 0) continue;
      this.mark(c, bit);
      return base + bit;
    }
    return -1;
  }

  /** Gives `id` back; false when it was not taken. */
  remove(id: number): boolean {
    const ci = Math.floor(id / CHUNK_IDS);
    const c = this.chunks.get(ci);
    if (!c) return false;
    const bit = id % CHUNK_IDS;
    const m = 1 << (bit & 31);
    if ((c[bit >>> 5] & m) === 0) return false;
    c[bit >>> 5] &= ~m;
    this.taken--;
    if (--c[POP] === 0) this.chunks.delete(ci);
    return true;
  }

  private mark(c: Uint32Array, bit: number): void {
    c[bit >>> 5] |= 1 << (bit & 31);
    c[POP]++;
    this.taken++;
  }
}

/** The lowest clear bit of chunk `c` in [from, to], or -1. */
function lowestClear(c: Uint32Array, from: number, to: number): number {
  for (let w = from >>> 5; w <= to >>> 5; w++) {
    // Free bits of this word at or above `from` (only the first word is masked).
    let free = ~c[w] | 0;
    if (w === from >>> 5) free &= -1 << (from & 31);
    if (free === 0) continue;
    const bit = (w << 5) + (31 - Math.clz32(free & -free));
    return bit <= to ? bit : -1;
  }
  return -1;
}
