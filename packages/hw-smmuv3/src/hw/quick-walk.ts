// The fast path of a walk: descriptors read straight from RAM's chunk views; anything but a clean success is left to the Walker.
import type { CtxConfig, StreamConfig } from './stream-config.js';
import { PERM_ALL, s1PermBits, s2PermBits } from './walk.js';

const TWO32 = 4294967296;
/** Table pages from here up are past any RAM (2^40 bytes): the Walker decides. Keeps page numbers int32. */
const PFN_LIMIT = 0x8000_0000;
const EMPTY: Uint32Array = new Uint32Array(0);

/** Results of the last quick walk (module scope: no allocation; JS runs one walk at a time). */
export const quickOut = { perm: 0, pages: 1, reads: 0 };

/** The leaf descriptor (lo, hi words) and span of the last quickS2. */
const s2Out = { lo: 0, hi: 0, pages: 1 };

/** The chunk view stage 2 read last, kept across the stage-2 walks of one quickWalk (nothing writes RAM during it). */
const s2Chunk = { ci: -1, c: EMPTY };

/** The index bits of a page number (halves lo32, hi32) at a level of a 4 KiB-granule table, before the level's mask. */
function levelBits(lo32: number, hi32: number, level: number): number {
  return level === 0 ? (lo32 >>> 27) | (hi32 << 5) : lo32 >>> (27 - 9 * level);
}

/** Pages minus one covered by a block at level 1 or 2. */
function blockLow(level: number): number {
  return level === 1 ? 0x3ffff : 0x1ff;
}

/** The stream's stage-2 parameters as int32s, loaded once per walk (Smi fields read faster than the decoded doubles). */
const s2In = { root: 0, start: 0, mask: 0, inLimit: 0, limit: 0, affd: false, ptw: false };

/** Fills s2In from a stream; false when its stage-2 root is past any RAM. */
function loadS2(sc: StreamConfig): boolean {
  if (sc.s2TtbPfn >= PFN_LIMIT - 16) return false;
  s2In.root = sc.s2TtbPfn | 0;
  s2In.start = sc.s2StartLevel;
  s2In.mask = sc.s2StartMask;
  // Capped to int32 compares: pages from PFN_LIMIT up are never RAM, so a refusal there changes nothing.
  s2In.inLimit = Math.min(sc.s2InLimit, PFN_LIMIT - 1) | 0;
  s2In.limit = Math.min(sc.s2OutLimit, PFN_LIMIT - 1) | 0;
  s2In.affd = sc.s2Affd;
  s2In.ptw = sc.s2Ptw;
  return true;
}

/**
 * Stage 2 of an IPA page (s2In): the PA page, or -1 when the Walker must decide (any fault, a table
 * page outside RAM, an address from 2^43 up). The caller checks the leaf's permissions.
 */
function quickS2(chunks: readonly Uint32Array[], ipa: number): number {
  if (ipa >= s2In.inLimit) return -1;
  const limit = s2In.limit;
  const start = s2In.start;
  let level = start;
  let i = levelBits(ipa, 0, level) & s2In.mask;
  // Concatenated start tables: an index past 511 lands in a following page.
  let table = s2In.root + (i >>> 9);
  i &= 511;
  let ci = s2Chunk.ci;
  let c = s2Chunk.c;
  for (;;) {
    const nci = table >>> 9;
    if (nci !== ci) {
      const x = chunks[nci];
      if (x === undefined) return -1;
      c = x;
      ci = nci;
      s2Chunk.ci = ci;
      s2Chunk.c = c;
    }
    const o = ((table & 511) << 10) | (i << 1);
    const lo = c[o]!;
    const hi = c[o + 1]!;
    // Descriptor bits 49:43 clear: the next address is below 2^43 and fits an int32 page number.
    if ((lo & 1) === 0 || (hi & 0x3f800) !== 0) return -1;
    table = ((hi & 0x7ff) << 20) | (lo >>> 12);
    if (table >= limit) return -1;
    if ((lo & 2) !== 0 && level < 3) {
      level++;
      i = levelBits(ipa, 0, level) & 511;
      continue;
    }
    quickOut.reads += level - start + 1;
    return s2Leaf(lo, hi, table, ipa, level);
  }
}

/** The stage-2 leaf that ends quickS2's walk (kept apart so that quickS2 stays small enough to inline). */
function s2Leaf(lo: number, hi: number, table: number, ipa: number, level: number): number {
  if (((lo & 0x400) === 0 && !s2In.affd) || (level === 3 ? (lo & 2) === 0 : level === 0)) return -1;
  s2Out.lo = lo | 0;
  s2Out.hi = hi | 0;
  const low = level === 3 ? 0 : blockLow(level);
  s2Out.pages = low + 1;
  return (table & ~low) | (ipa & low);
}

/**
 * Stage 1 through TTB0 of `cd` (each table fetch through stage 2 when the stream nests): the output
 * page, or -1 when the Walker must decide. Declines every case where the Walker would fault or write
 * (Access flag clear; a dirty-state update needs a write that AP[2] refuses), so a success is exactly the Walker's result.
 */
function quickS1(chunks: readonly Uint32Array[], sc: StreamConfig, cd: CtxConfig, pfn: number): number {
  if (cd.epd0 || pfn >= cd.t0Limit || cd.ttb0Pfn >= PFN_LIMIT) return -1;
  const lo32 = pfn >>> 0;
  const hi32 = pfn < TWO32 ? 0 : (pfn / TWO32) >>> 0;
  const nested = sc.s2;
  const limit = Math.min(cd.outLimit, PFN_LIMIT - 1) | 0;
  const start = cd.t0StartLevel;
  let table = cd.ttb0Pfn | 0;
  let i = levelBits(lo32, hi32, start) & cd.t0StartMask;
  let apTable = 0;
  let xnTable = 0;
  let ci = -1;
  let c = EMPTY;
  for (let level = start; ; level++) {
    let page = table;
    if (nested) {
      page = quickS2(chunks, table);
      // A table fetch needs stage-2 read and, with S2PTW, Normal memory.
      if (page < 0 || (s2Out.lo & 0x40) === 0 || (s2In.ptw && (s2Out.lo & 0x30) === 0)) return -1;
    }
    const nci = page >>> 9;
    if (nci !== ci) {
      const x = chunks[nci];
      if (x === undefined) return -1;
      c = x;
      ci = nci;
    }
    const o = ((page & 511) << 10) | (i << 1);
    const lo = c[o]!;
    const hi = c[o + 1]!;
    if ((lo & 1) === 0 || (hi & 0x3f800) !== 0) return -1;
    const next = ((hi & 0x7ff) << 20) | (lo >>> 12);
    if (next >= limit) return -1;
    if ((lo & 2) !== 0 && level < 3) {
      apTable |= (hi >>> 29) & 3;
      xnTable |= (hi >>> 27) & 3;
      table = next;
      i = levelBits(lo32, hi32, level + 1) & 511;
      continue;
    }
    if ((lo & 0x400) === 0) return -1;
    // A writable-clean leaf (DBM with AP[2] set) is read-only here, so a write fails the permission
    // check in quickWalk and the Walker makes it dirty.
    if ((lo & 2) === 0 ? level === 0 || level === 3 : level !== 3) return -1;
    quickOut.perm = s1PermBits(lo, hi, apTable, xnTable);
    quickOut.reads += level - start + 1;
    if (level === 3) {
      quickOut.pages = 1;
      return next;
    }
    const low = blockLow(level);
    quickOut.pages = low + 1;
    return (next & ~low) | (lo32 & low);
  }
}

/**
 * Both stages of a transaction that the Walker would translate without a fault or a table write:
 * the output page with perm, pages and reads in quickOut; -1 otherwise (nothing read counts then).
 * `need` is the permission bit of the access (permNeeded).
 */
export function quickWalk(chunks: readonly Uint32Array[], sc: StreamConfig, cd: CtxConfig | null, pfn: number, need: number): number {
  quickOut.reads = 0;
  s2Chunk.ci = -1;
  if (sc.s2 && !loadS2(sc)) return -1;
  let out = pfn;
  let perm = PERM_ALL;
  let pages = 262144;
  if (cd !== null) {
    out = quickS1(chunks, sc, cd, pfn);
    if (out < 0 || (quickOut.perm & need) === 0) return -1;
    perm = quickOut.perm;
    pages = quickOut.pages;
  }
  if (sc.s2) {
    const pa = quickS2(chunks, out);
    if (pa < 0) return -1;
    const s2Perm = s2PermBits(s2Out.lo, s2Out.hi);
    if ((s2Perm & need) === 0) return -1;
    perm &= s2Perm;
    if (s2Out.pages < pages) pages = s2Out.pages;
    out = pa;
  }
  quickOut.perm = perm;
  quickOut.pages = pages;
  return out;
}
