import { describe, expect, it } from 'vitest';
import { VtdCsr, vtdRegName } from './regs.js';

describe('the register file masks (vtd_define_long/quad)', () => {
  it('keeps bits outside wmask, takes bits inside, clears write-1-to-clear bits', () => {
    const c = new VtdCsr();
    // FSTS: read-only except PFO (bit 0) and IQE (bit 4), which are w1c.
    c.defineLong(0x34, 0x13, 0, 0x11);
    c.setLong(0x34, 0xffff_ffff);
    expect(c.getLong(0x34)).toBe(0x02);
    // FEDATA: 16 writable bits.
    c.defineLong(0x3c, 0, 0xffff, 0);
    c.setLong(0x3c, 0xabcd_1234);
    expect(c.getLong(0x3c)).toBe(0x1234);
  });

  it('hides write-only bits from reads but keeps them for the device', () => {
    const c = new VtdCsr();
    c.defineLong(0x18, 0, 0xff80_0000, 0, 0xff80_0000);
    c.setLong(0x18, 0x8000_0000);
    expect(c.getLong(0x18)).toBe(0);
    expect(c.raw(0x18) >>> 0).toBe(0x8000_0000);
  });

  it('splits quads into halves with their own masks', () => {
    const c = new VtdCsr();
    c.defineQuad(0x20, 0n, 0xffff_ffff_ffff_fc00n, 0n);
    c.setLong(0x20, 0x1234_5fff);
    c.setLong(0x24, 0x1);
    expect(c.rawQuad(0x20)).toBe(0x1_1234_5c00n);
  });

  it('names registers as the kernel does', () => {
    expect([vtdRegName(0x88), vtdRegName(0x18), vtdRegName(0xf8), vtdRegName(0x22c), vtdRegName(0x200)]).toEqual(['IQT_REG', 'GCMD_REG', 'IOTLB_REG', 'FRCD_REG_0_3', undefined]);
  });
});
