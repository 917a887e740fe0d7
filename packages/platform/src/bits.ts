// 64-bit field helpers: bigint for codecs, (lo, hi) u32 pairs for hot paths.

export const U64_MAX = 0xffff_ffff_ffff_ffffn;
export const U32_MAX = 0xffff_ffff;
const TWO32 = 4294967296;

/** Bits hi..lo (inclusive, as the specs write them) of a 64-bit value. */
export function bitsOf(value: bigint, hi: number, lo: number): bigint {
  return (value >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/** value with bits hi..lo replaced by field; throws RangeError when field does not fit. */
export function withBits(value: bigint, hi: number, lo: number, field: bigint | number): bigint {
  const width = BigInt(hi - lo + 1);
  const f = BigInt(field);
  if (f < 0n || f >> width !== 0n) throw new RangeError(`value 0x${f.toString(16)} does not fit bits ${hi}:${lo}`);
  const mask = ((1n << width) - 1n) << BigInt(lo);
  return (value & ~mask) | (f << BigInt(lo));
}

/** Bit n of a 64-bit value as a boolean. */
export function bitOf(value: bigint, n: number): boolean {
  return ((value >> BigInt(n)) & 1n) === 1n;
}

/** A mask with bits hi..lo set. */
export function genmask(hi: number, lo: number): bigint {
  return ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

/** Splits a u64 into [lo, hi] u32 words. */
export function splitU64(value: bigint): [number, number] {
  return [Number(value & 0xffff_ffffn), Number((value >> 32n) & 0xffff_ffffn)];
}

/** Joins [lo, hi] u32 words into a u64. */
export function joinU64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Bits 51..12 of a (lo, hi) entry as a page-frame number: the address field of every format here. */
export function pfnOfEntry(lo: number, hi: number): number {
  return (hi & 0xfffff) * 1048576 + (lo >>> 12);
}

/** The (lo, hi) words of pfn << 12 (bits 51..12). */
export function entryOfPfn(pfn: number): [number, number] {
  return [((pfn % 1048576) * 4096) >>> 0, Math.floor(pfn / 1048576) & 0xfffff];
}

/** Converts a non-negative integer below 2^64 held in a number or bigint to bigint, exactly. */
export function toU64(v: number | bigint): bigint {
  const b = typeof v === 'bigint' ? v : BigInt(v);
  if (b < 0n || b > U64_MAX) throw new RangeError(`${v} is not a u64`);
  return b;
}

/** A u64 as a number; throws RangeError when it is not exactly representable. */
export function u64ToNumber(v: bigint): number {
  const n = Number(v);
  if (BigInt(n) !== v) throw new RangeError(`0x${v.toString(16)} is not exact as a number`);
  return n;
}

/** hi * 2^32 + lo for values below 2^53. */
export function wordsToNumber(lo: number, hi: number): number {
  return hi * TWO32 + (lo >>> 0);
}

export function hex(v: number | bigint, width = 0): string {
  return '0x' + v.toString(16).padStart(width, '0');
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isInteger(n) && 2 ** Math.round(Math.log2(n)) === n;
}

/** log2 of a power of two (number). */
export function log2(n: number): number {
  return Math.round(Math.log2(n));
}
