import { describe, expect, it } from 'vitest';
import { IdSpace } from './id-space.js';

describe('IdSpace', () => {
  it('hands out the lowest free ID of the range, as xa_alloc does', () => {
    const s = new IdSpace();
    expect(s.alloc(1, 10)).toBe(1);
    expect(s.alloc(1, 10)).toBe(2);
    expect(s.alloc(5, 10)).toBe(5);
    expect(s.alloc(1, 10)).toBe(3);
    expect(s.remove(2)).toBe(true);
    expect(s.alloc(0, 10)).toBe(0);
    expect(s.alloc(0, 10)).toBe(2);
    expect(s.size).toBe(5);
  });

  it('returns -1 when the range is full or empty', () => {
    const s = new IdSpace();
    expect(s.alloc(7, 8)).toBe(7);
    expect(s.alloc(7, 8)).toBe(8);
    expect(s.alloc(7, 8)).toBe(-1);
    expect(s.alloc(9, 8)).toBe(-1);
    expect(s.size).toBe(2);
  });

  it('crosses 32-bit words and 1024-ID chunks', () => {
    const s = new IdSpace();
    // IDs 30..1100 span words 0..34 of chunk 0 and the start of chunk 1 (1024 = chunk 1, bit 0).
    for (let i = 30; i <= 1100; i++) expect(s.alloc(30, 5000)).toBe(i);
    expect(s.has(1023)).toBe(true);
    expect(s.has(1024)).toBe(true);
    expect(s.has(29)).toBe(false);
    expect(s.remove(31)).toBe(true);
    expect(s.remove(1024)).toBe(true);
    expect(s.alloc(30, 5000)).toBe(31);
    expect(s.alloc(32, 5000)).toBe(1024);
    expect(s.alloc(32, 5000)).toBe(1101);
  });

  it('skips a full chunk and finds bit 31 of a word', () => {
    const s = new IdSpace();
    for (let i = 0; i < 1024; i++) s.alloc(0, 2047);
    expect(s.alloc(0, 2047)).toBe(1024);
    // Word 33 of the space covers IDs 1056..1087; take all but its top bit.
    for (let i = 1025; i < 1087; i++) expect(s.alloc(i, i)).toBe(i);
    expect(s.alloc(1056, 1087)).toBe(1087);
  });

  it('handles IDs near the top of the u32 space', () => {
    const s = new IdSpace();
    expect(s.alloc(0xffff_fffd, 0xffff_fffe)).toBe(0xffff_fffd);
    expect(s.alloc(0xffff_fffd, 0xffff_fffe)).toBe(0xffff_fffe);
    expect(s.alloc(0xffff_fffd, 0xffff_fffe)).toBe(-1);
    expect(s.has(0xffff_fffe)).toBe(true);
  });

  it('remove refuses a free ID', () => {
    const s = new IdSpace();
    expect(s.alloc(42, 42)).toBe(42);
    expect(s.alloc(42, 43)).toBe(43);
    expect(s.remove(44)).toBe(false);
    expect(s.remove(42)).toBe(true);
    expect(s.remove(42)).toBe(false);
    expect(s.size).toBe(1);
  });
});
