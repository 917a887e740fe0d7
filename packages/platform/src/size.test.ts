import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from './size.js';

describe('sizes', () => {
  it('parses QEMU-style sizes', () => {
    expect(parseSize('4G')).toBe(4294967296);
    expect(parseSize('64g')).toBe(68719476736);
    expect(parseSize('512M')).toBe(536870912);
    expect(parseSize('2MiB')).toBe(2097152);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize(8192)).toBe(8192);
    expect(() => parseSize('4 gigs')).toThrow(/invalid size "4 gigs"/);
    expect(() => parseSize(-1)).toThrow(RangeError);
  });
  it('formats sizes', () => {
    expect(formatSize(4294967296)).toBe('4 GiB');
    expect(formatSize(3 * 2 ** 20 / 2)).toBe('1.50 MiB');
    expect(formatSize(100)).toBe('100 B');
  });
});
