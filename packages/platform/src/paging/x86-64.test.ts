import { describe, expect, it } from 'vitest';
import { PhysMem } from '../phys-mem.js';
import { X86, X86PageTable, X86Pte, X86Walk, walkX86 } from './x86-64.js';

// VA 0x7f12_3456_7000: PML4 index 0xfe, PDPT 0x48, PD 0x1a2, PT 0x167 (bits 47:39, 38:30, 29:21, 20:12).
const VA_PFN = 0x7f1234567;

function handBuilt(): PhysMem {
  const m = new PhysMem(4 * 2 ** 20);
  m.setU64(0x100000 + 0xfe * 8, 0x101007n);
  m.setU64(0x101000 + 0x48 * 8, 0x102007n);
  m.setU64(0x102000 + 0x1a2 * 8, 0x103007n);
  m.setU64(0x103000 + 0x167 * 8, 0x8000_0000_0034_5003n);
  return m;
}

describe('x86-64 paging entries', () => {
  it('encode and decode the SDM bit positions', () => {
    expect(X86Pte.encode({ present: true, writable: true, addr: 0x345000n, xd: true })).toBe(0x8000_0000_0034_5003n);
    expect(X86Pte.encode({ present: true, user: true, pageSize: true, accessed: true, dirty: true, global: true, addr: 0x4000_0000n })).toBe(0x4000_01e5n);
    const d = X86Pte.decode(0x8000_0000_0034_5067n);
    expect(d).toMatchObject({ present: true, writable: true, user: true, accessed: true, dirty: true, pageSize: false, xd: true, addr: 0x345000n });
    expect(() => X86Pte.encode({ addr: 0x345001n })).toThrow(RangeError);
  });

  it('walk a hand-built 4-level table: AND of R/W and U/S, OR of XD', () => {
    const w = new X86Walk();
    expect(walkX86(handBuilt(), 0x100, VA_PFN, false, { levels: 4, nxe: true }, w)).toBe(true);
    expect(w).toMatchObject({ pfn: 0x345, level: 1, writable: true, user: false, xd: true, entryPa: 0x103b38 });
    const noNx = new X86Walk();
    expect(walkX86(handBuilt(), 0x100, VA_PFN, false, { levels: 4, nxe: false }, noNx)).toBe(false);
    expect(noNx).toMatchObject({ fault: 'reserved', faultLevel: 1 });
  });

  it('resolve 2 MiB and 1 GiB leaves and check their reserved bits', () => {
    const m = handBuilt();
    m.setU64(0x102000 + 0x1a2 * 8, 0x400087n);
    const w = new X86Walk();
    expect(walkX86(m, 0x100, VA_PFN, false, { levels: 4 }, w)).toBe(true);
    expect([w.pfn, w.level]).toEqual([0x400 + 0x167, 2]);
    m.setU64(0x102000 + 0x1a2 * 8, 0x402087n);
    expect(walkX86(m, 0x100, VA_PFN, false, { levels: 4 }, w)).toBe(false);
    expect([w.fault, w.faultLevel]).toEqual(['reserved', 2]);
    m.setU64(0x101000 + 0x48 * 8, 0x4000_0087n);
    expect(walkX86(m, 0x100, VA_PFN, false, { levels: 4 }, w)).toBe(false);
    expect([w.fault, w.faultLevel]).toEqual(['reserved', 3]);
    expect(walkX86(m, 0x100, VA_PFN, false, { levels: 4, pages1G: true }, w)).toBe(true);
    expect([w.pfn, w.level]).toEqual([0x40000 + 0x34567, 3]);
    m.setU64(0x100000 + 0xfe * 8, 0x101087n);
    expect(walkX86(m, 0x100, VA_PFN, false, { levels: 4, pages1G: true }, w)).toBe(false);
    expect([w.fault, w.faultLevel]).toEqual(['reserved', 4]);
  });

  it('report not-present, unreadable tables and addresses above MAXPHYADDR', () => {
    const m = handBuilt();
    const w = new X86Walk();
    m.setU64(0x103000 + 0x167 * 8, 0x8000_0000_0034_5002n);
    expect(walkX86(m, 0x100, VA_PFN, false, { levels: 4 }, w)).toBe(false);
    expect(w).toMatchObject({ fault: 'not-present', faultLevel: 1 });
    expect(walkX86(m, 0x10_0000, VA_PFN, false, { levels: 4 }, w)).toBe(false);
    expect(w).toMatchObject({ fault: 'fetch', faultLevel: 4 });
    m.setU64(0x103000 + 0x167 * 8, 0x80_0000_0003n);
    expect(walkX86(m, 0x100, VA_PFN, false, { levels: 4, physBits: 39 }, w)).toBe(false);
    expect(w).toMatchObject({ fault: 'reserved', faultLevel: 1 });
  });

  it('set A on every level and D on the leaf for a write when asked', () => {
    const m = handBuilt();
    const w = new X86Walk();
    expect(walkX86(m, 0x100, VA_PFN, true, { levels: 4, nxe: true, setAccessed: true }, w)).toBe(true);
    expect(m.u64(0x100000 + 0xfe * 8)).toBe(0x101027n);
    expect(m.u64(0x103000 + 0x167 * 8)).toBe(0x8000_0000_0034_5063n);
    expect(w.dirty).toBe(true);
  });

  it('build 4- and 5-level tables that walk back to what was mapped', () => {
    const m = new PhysMem(8 * 2 ** 20);
    let next = 0x300;
    const t = new X86PageTable(m, () => next++, 5);
    const va5 = 0x00ff_1234_5678_9000 / 4096;
    t.map(va5, 0x777, 1, { write: true, user: true });
    t.map(0x200, 0x600, 2, { xd: true });
    const w = new X86Walk();
    expect(walkX86(m, t.root, va5, true, { levels: 5, nxe: true }, w)).toBe(true);
    expect(w).toMatchObject({ pfn: 0x777, writable: true, user: true, xd: false });
    // PML5 index of 0x00ff_1234_5678_9000 is bits 56:48 = 0xff.
    expect(m.u64(t.root * 4096 + 0xff * 8) & 0xfffn).toBe(0x27n);
    expect(walkX86(m, t.root, 0x3ff, false, { levels: 5, nxe: true }, w)).toBe(true);
    expect(w).toMatchObject({ pfn: 0x7ff, level: 2, writable: false, xd: true });
    expect(t.unmap(0x200, 2)).toBe(true);
    expect(t.unmap(0x200, 2)).toBe(false);
    expect(walkX86(m, t.root, 0x3ff, false, { levels: 5 }, w)).toBe(false);
    expect(() => t.map(0x201, 0x600, 2)).toThrow(/alignment/);
    expect(X86.XD_HI).toBe(0x8000_0000);
  });
});
