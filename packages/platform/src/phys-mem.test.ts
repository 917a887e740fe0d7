import { describe, expect, it } from 'vitest';
import { PhysMem } from './phys-mem.js';

const MiB = 2 ** 20;

describe('PhysMem', () => {
  it('is little-endian at every width', () => {
    const m = new PhysMem(4 * MiB);
    m.setU64(0x1000, 0x1122_3344_5566_7788n);
    expect(m.u32(0x1000)).toBe(0x5566_7788);
    expect(m.u32(0x1004)).toBe(0x1122_3344);
    expect(m.u8(0x1000)).toBe(0x88);
    expect(m.u8(0x1007)).toBe(0x11);
    expect(m.u16(0x1002)).toBe(0x5566);
    m.setU16(0x2001, 0xbeef);
    expect(m.u8(0x2001)).toBe(0xef);
    expect(m.u8(0x2002)).toBe(0xbe);
    m.setU32(0x3000, 0xdead_beef);
    expect(m.u64(0x3000)).toBe(0xdead_beefn);
    m.setU64(0x3008, -1n);
    expect(m.u64(0x3008)).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('reads zero and costs nothing until written, then backs 2 MiB at a time', () => {
    const m = new PhysMem(64 * 2 ** 30);
    expect(m.u64(40 * 2 ** 30)).toBe(0n);
    expect(m.touchedBytes).toBe(0);
    m.setU8(40 * 2 ** 30 + 5, 1);
    expect(m.touchedBytes).toBe(2 * MiB);
    m.fill(0, 4096, 0);
    expect(m.touchedBytes).toBe(2 * MiB);
  });

  it('copies across 2 MiB chunk boundaries', () => {
    const m = new PhysMem(8 * MiB);
    const data = Uint8Array.from({ length: 10000 }, (_, i) => (i * 7) & 0xff);
    const pa = 2 * MiB - 3000;
    m.write(pa, data);
    expect(m.read(pa, data.length)).toEqual(data);
    expect(m.u8(2 * MiB)).toBe((3000 * 7) & 0xff);
    m.copy(5 * MiB, pa, data.length);
    expect(m.read(5 * MiB, data.length)).toEqual(data);
  });

  it('moves 64-bit entries as u32 halves and refuses addresses outside RAM', () => {
    const m = new PhysMem(2 * MiB);
    const out = new Uint32Array(2);
    expect(m.write64(0x10, 0x12345003, 0x80000000)).toBe(true);
    expect(m.u64(0x10)).toBe(0x8000_0000_1234_5003n);
    expect(m.read64(0x10, out)).toBe(true);
    expect([...out]).toEqual([0x12345003, 0x80000000]);
    expect(m.read64(2 * MiB, out)).toBe(false);
    expect(m.write64(2 * MiB - 4, 1, 1)).toBe(false);
    expect(() => m.read(2 * MiB - 1, 2)).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
    expect(() => new PhysMem(3 * 1024)).toThrow(RangeError);
  });
});
