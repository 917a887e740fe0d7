import { describe, expect, it } from 'vitest';
import { bitOf, bitsOf, entryOfPfn, genmask, hex, isPowerOfTwo, joinU64, pfnOfEntry, splitU64, toU64, u64ToNumber, withBits } from './bits.js';

describe('64-bit field helpers', () => {
  it('extracts and replaces bit fields the way the specs number them (hi:lo inclusive)', () => {
    const v = 0x8000_0001_2345_6007n;
    expect(bitsOf(v, 51, 12)).toBe(0x1_2345_6n);
    expect(bitsOf(v, 2, 0)).toBe(7n);
    expect(bitOf(v, 63)).toBe(true);
    expect(bitOf(v, 62)).toBe(false);
    expect(withBits(0n, 8, 6, 3)).toBe(0xc0n);
    expect(withBits(0xffn, 3, 0, 0)).toBe(0xf0n);
    expect(() => withBits(0n, 2, 0, 8)).toThrow(RangeError);
    expect(genmask(51, 12)).toBe(0x000f_ffff_ffff_f000n);
  });

  it('splits and joins u64 words and converts entry address fields to frame numbers', () => {
    expect(splitU64(0x8000_0001_2345_6007n)).toEqual([0x2345_6007, 0x8000_0001]);
    expect(joinU64(0x2345_6007, 0x8000_0001)).toBe(0x8000_0001_2345_6007n);
    // bits 51:12 of 0x8000_0001_2345_6007 = 0x1_2345_6
    expect(pfnOfEntry(0x2345_6007, 0x8000_0001)).toBe(0x123456);
    expect(entryOfPfn(0xf_ffff_ffffa)).toEqual([0xffffa000, 0xfffff]);
    expect(pfnOfEntry(...entryOfPfn(0xab_1234_5678))).toBe(0xab_1234_5678);
  });

  it('guards conversions', () => {
    expect(toU64(5)).toBe(5n);
    expect(() => toU64(-1)).toThrow(RangeError);
    expect(() => toU64(1n << 64n)).toThrow(RangeError);
    expect(u64ToNumber(1n << 60n)).toBe(2 ** 60);
    expect(() => u64ToNumber((1n << 60n) + 1n)).toThrow(RangeError);
    expect(hex(255, 4)).toBe('0x00ff');
    expect(isPowerOfTwo(2 ** 40)).toBe(true);
    expect(isPowerOfTwo(2 ** 40 + 4096)).toBe(false);
    expect(isPowerOfTwo(0)).toBe(false);
  });
});
