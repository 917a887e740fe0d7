import { describe, expect, it } from 'vitest';
import { PhysMem } from '../phys-mem.js';
import { A64, A64Descriptor, A64PageTable, A64Walk, a64StartIndexBits, a64StartLevel, walkA64 } from './aarch64.js';

// IA 0x8000_1234_5000 with a 48-bit input: L0 index 0x100, L1 0x0, L2 0x91, L3 0x145.
const IN_PFN = 0x800012345;
const s1 = { stage: 1 as const, startLevel: 0, inputBits: 48, outputBits: 48, accessFlagFaults: true };

function handBuilt(): PhysMem {
  const m = new PhysMem(4 * 2 ** 20);
  m.setU64(0x100000 + 0x100 * 8, 0x101003n);
  m.setU64(0x101000 + 0x0 * 8, 0x102003n);
  m.setU64(0x102000 + 0x91 * 8, 0x103003n);
  m.setU64(0x103000 + 0x145 * 8, 0x4000_0707n);
  return m;
}

describe('AArch64 VMSAv8-64 descriptors (4 KiB granule)', () => {
  it('encode page, block and table descriptors at the Arm ARM bit positions', () => {
    // page: valid|page (0b11), AttrIndx 1 (bits 4:2), SH 0b11 (9:8), AF (10)
    expect(A64Descriptor.encode({ kind: 'page', addr: 0x4000_0000n, attrIndx: 1, sh: 3, af: true })).toBe(0x4000_0707n);
    expect(A64Descriptor.encode({ kind: 'block', addr: 0x4020_0000n, af: true, ap: 3, uxn: true, pxn: true })).toBe(0x0060_0000_4020_04c1n);
    expect(A64Descriptor.encode({ kind: 'table', addr: 0x101000n, apTable: 2 })).toBe(0x4000_0000_0010_1003n);
    // stage 2: valid|page 0b11, MemAttr 0b1111 (5:2) = 0x3c, S2AP read|write (7:6) = 0xc0, AF = 0x400
    expect(A64Descriptor.encode({ kind: 'page', addr: 0x30_0000n, s2ap: 3, memAttr: 0xf, af: true })).toBe(0x30_04ffn);
    const d = A64Descriptor.decode(0x0060_0000_4020_04c1n, 2);
    expect(d).toMatchObject({ kind: 'block', addr: 0x4020_0000n, ap: 3, af: true, uxn: true, pxn: true });
    expect(A64Descriptor.decode(0x4000_0701n, 3).kind).toBe('reserved');
    expect(A64Descriptor.decode(0x4000_0702n, 3).kind).toBe('invalid');
  });

  it('choose the initial level and concatenation from the input size', () => {
    expect(a64StartLevel(48)).toBe(0);
    expect(a64StartLevel(40)).toBe(0);
    expect(a64StartLevel(39)).toBe(1);
    expect(a64StartLevel(30)).toBe(2);
    expect(a64StartIndexBits(48, 0)).toBe(9);
    expect(a64StartIndexBits(40, 1)).toBe(10);
    expect(a64StartIndexBits(48, 1)).toBe(0);
  });

  it('walk a hand-built stage-1 table and combine AP with APTable', () => {
    const m = handBuilt();
    const w = new A64Walk();
    expect(walkA64(m, 0x100, IN_PFN, s1, w)).toBe(true);
    expect(w).toMatchObject({ pfn: 0x40000, level: 3, read: true, write: true, user: false, entryPa: 0x103a28 });
    m.setU64(0x103000 + 0x145 * 8, 0x4000_07c7n);
    expect(walkA64(m, 0x100, IN_PFN, s1, w)).toBe(true);
    expect(w).toMatchObject({ write: false, user: true });
    m.setU64(0x103000 + 0x145 * 8, 0x4000_0707n);
    m.setU64(0x101000, 0x4000_0000_0010_2003n);
    expect(walkA64(m, 0x100, IN_PFN, s1, w)).toBe(true);
    expect(w.write).toBe(false);
  });

  it('fault with the Arm fault classes: translation, access flag, address size', () => {
    const m = handBuilt();
    const w = new A64Walk();
    m.setU64(0x103000 + 0x145 * 8, 0x4000_0307n);
    expect(walkA64(m, 0x100, IN_PFN, s1, w)).toBe(false);
    expect([w.fault, w.faultLevel]).toEqual(['access', 3]);
    expect(walkA64(m, 0x100, IN_PFN, { ...s1, accessFlagFaults: false }, w)).toBe(true);
    m.setU64(0x103000 + 0x145 * 8, 0x4000_0705n);
    expect(walkA64(m, 0x100, IN_PFN, s1, w)).toBe(false);
    expect([w.fault, w.faultLevel]).toEqual(['translation', 3]);
    m.setU64(0x103000 + 0x145 * 8, 0x100_0000_0707n);
    expect(walkA64(m, 0x100, IN_PFN, { ...s1, outputBits: 40 }, w)).toBe(false);
    expect([w.fault, w.faultLevel]).toEqual(['address-size', 3]);
    // A page with DBM (bit 51) and GP (bit 50) set is fine; bit 48 set is an address-size fault.
    m.setU64(0x103000 + 0x145 * 8, (3n << 50n) | 0x4000_0707n);
    expect(walkA64(m, 0x100, IN_PFN, s1, w)).toBe(true);
    m.setU64(0x103000 + 0x145 * 8, (1n << 48n) | 0x4000_0707n);
    expect(walkA64(m, 0x100, IN_PFN, s1, w)).toBe(false);
    expect([w.fault, w.faultLevel]).toEqual(['address-size', 3]);
    m.setU64(0x102000 + 0x91 * 8, 0x4020_0701n);
    expect(walkA64(m, 0x100, IN_PFN, s1, w)).toBe(true);
    expect([w.pfn, w.level]).toEqual([0x40200 + 0x145, 2]);
    m.setU64(0x100000 + 0x100 * 8, 0n);
    expect(walkA64(m, 0x100, IN_PFN, s1, w)).toBe(false);
    expect([w.fault, w.faultLevel]).toEqual(['translation', 0]);
  });

  it('build a stage-2 table with two concatenated level-1 tables and walk it', () => {
    const m = new PhysMem(8 * 2 ** 20);
    let next = 0x400;
    const t = new A64PageTable(m, () => next++, { stage: 2, inputBits: 40, startLevel: 1 });
    expect(t.root).toBe(0x400);
    // IPA 0x80_0000_0000 has L1 index 0x200 of 10 bits: the first entry of the second table.
    t.map(0x800_0000, 0x300, 3, { read: true, write: true });
    expect(m.u64(0x401000) & 3n).toBe(3n);
    const w = new A64Walk();
    const s2 = { stage: 2 as const, startLevel: 1, inputBits: 40, outputBits: 48, accessFlagFaults: true };
    expect(walkA64(m, t.root, 0x800_0000, s2, w)).toBe(true);
    expect(w).toMatchObject({ pfn: 0x300, read: true, write: true });
    t.map(0x800_0200, 0x600, 2, { read: true, write: false });
    expect(walkA64(m, t.root, 0x800_0201, s2, w)).toBe(true);
    expect(w).toMatchObject({ pfn: 0x601, level: 2, read: true, write: false });
    expect(() => new A64PageTable(m, () => 0x700, { stage: 2, inputBits: 48, startLevel: 1 })).toThrow(/cannot translate/);
    expect(A64.S2AP_W).toBe(0x80);
  });
});
