// Inclusive IOVA ranges as bigint (IOVAs reach U64_MAX); helpers for holes, overlap and alignment.

export const ULONG_MAX = (1n << 64n) - 1n;

export interface IovaRange {
  start: bigint;
  last: bigint;
}

export function overlaps(a: IovaRange, start: bigint, last: bigint): boolean {
  return a.start <= last && a.last >= start;
}

/** The holes of `used` (sorted or not) inside [start, last]. */
export function holes(used: readonly IovaRange[], start: bigint, last: bigint): IovaRange[] {
  const sorted = used.filter((u) => overlaps(u, start, last)).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: IovaRange[] = [];
  let cur = start;
  for (const u of sorted) {
    if (u.start > cur) out.push({ start: cur, last: u.start - 1n });
    if (u.last >= cur) {
      if (u.last >= last) return out;
      cur = u.last + 1n;
    }
  }
  if (cur <= last) out.push({ start: cur, last });
  return out;
}

/** roundup_pow_of_two for a positive bigint. */
export function roundupPow2(n: bigint): bigint {
  let p = 1n;
  while (p < n) p <<= 1n;
  return p;
}

/** 1 << __ffs64(x): the largest power of two dividing x (x > 0). */
export function lowestBit(x: bigint): bigint {
  return x & -x;
}

export function alignUp(x: bigint, a: bigint): bigint {
  return ((x + a - 1n) / a) * a;
}
