import { describe, expect, it } from 'vitest';
import { IovaDomain } from './iova.js';

describe('the guest IOVA allocator (iova.c)', () => {
  it('hands out size-aligned ranges top-down below the limit, skipping reserved ranges', () => {
    const d = new IovaDomain(1, 2 ** 36, [[0xfee00, 0xfef00]]);
    expect(d.alloc(1, 2 ** 20)).toBe(0xfffff);
    expect(d.alloc(2, 2 ** 20)).toBe(0xffffc);
    expect(d.alloc(3, 2 ** 20)).toBe(0xffff8);
    const low = new IovaDomain(1, 2 ** 36, [[0xfee00, 0xfef00]]);
    expect(low.alloc(0x100, 0xfef00)).toBe(0xfed00);
  });

  it('gives a freed cached size back first (the rcache), and merges freed large ranges', () => {
    const d = new IovaDomain(1, 0x1000);
    const a = d.alloc(1, 0x1000);
    d.free(a, 1);
    expect(d.alloc(1, 0x1000)).toBe(a);
    const big = d.alloc(64, 0x1000);
    expect(big % 64).toBe(0);
    d.free(big, 64);
    expect(d.alloc(64, 0x1000)).toBe(big);
    expect(d.allocated).toBe(65);
  });

  it('returns -1 when the space is exhausted and refuses double frees', () => {
    const d = new IovaDomain(1, 9);
    expect(d.alloc(4, 9)).toBe(4);
    expect(d.alloc(4, 9)).toBe(-1);
    d.free(4, 4);
    expect(d.alloc(4, 9)).toBe(4);
    const e = new IovaDomain(1, 0x1000);
    const big = e.alloc(64, 0x1000);
    e.free(big, 64);
    expect(() => e.free(big + 1, 63)).toThrow(RangeError);
  });
});
