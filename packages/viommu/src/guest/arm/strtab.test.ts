import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam } from '../../vm/guest-ram.js';
import { GuestPageAllocator } from '../page-alloc.js';
import { GuestCdTable } from './cd-table.js';
import { GuestStrtab } from './strtab.js';

const RAM = 0x4000_0000;

function rig() {
  const host = new Host({ memory: 64 * 2 ** 20 });
  const ram = new GuestRam(host.spawnProcess(), 32 * 2 ** 20, host.mem, [{ gpa: RAM, size: 32 * 2 ** 20, offset: 0 }]);
  return { ram, pages: new GuestPageAllocator(ram) };
}

describe("the guest's stream table and CD tables", () => {
  it('a linear table (SIDSIZE <= 8) starts as abort STEs and is indexed by StreamID', () => {
    const { ram, pages } = rig();
    const st = new GuestStrtab(ram, pages, 5, false);
    // STRTAB_BASE_CFG: FMT 0 (linear) | LOG2SIZE 5; STRTAB_BASE: ADDR | RA (bit 62)
    expect(st.baseCfg()).toBe(5);
    expect(st.base()).toBe(BigInt(st.gpa) | (1n << 62n));
    expect(st.stePtr(7)).toBe(st.gpa + 7 * 64);
    expect([0, 31].map((sid) => ram.u64(st.gpa + sid * 64))).toEqual([1n, 1n]); // V | Config abort
  });

  it('a 2-level table gets a level-2 table of 256 abort STEs per bus, pointed at by SPAN 9', () => {
    const { ram, pages } = rig();
    const st = new GuestStrtab(ram, pages, 16, true);
    expect(st.numL1).toBe(256);
    expect(() => st.stePtr(0x118)).toThrow(RangeError);
    st.initSid(0x118);
    const l1 = ram.u64(st.gpa + 8);
    expect(l1 & 0x1fn).toBe(9n);
    const l2 = Number(l1 & ~0x3fn);
    expect(st.stePtr(0x118)).toBe(l2 + 0x18 * 64);
    expect([ram.u64(l2), ram.u64(l2 + 255 * 64)]).toEqual([1n, 1n]);
    expect(ram.u64(st.gpa)).toBe(0n); // bus 0 untouched
  });

  it('CD tables: linear up to 1024 contexts; beyond, 64 KiB leaves of 1024 CDs behind V | L2Ptr descriptors', () => {
    const { ram, pages } = rig();
    const linear = new GuestCdTable(ram, pages, 10, true);
    expect([linear.s1fmt, linear.s1cdmax, linear.cdPtr(1023, false)]).toEqual([0, 10, linear.gpa + 1023 * 64]);
    const twoLevel = new GuestCdTable(ram, pages, 20, true);
    expect([twoLevel.s1fmt, twoLevel.s1cdmax]).toEqual([2, 20]);
    expect(twoLevel.cdPtr(5000, false)).toBe(-1);
    let synced = 0;
    const cd = twoLevel.cdPtr(5000, true, () => synced++);
    // CD 5000 is leaf 4 (5000 / 1024), entry 904 (5000 % 1024)
    const desc = ram.u64(twoLevel.gpa + 4 * 8);
    expect(desc & 1n).toBe(1n);
    expect(cd).toBe(Number(desc & ~0xfffn) + 904 * 64);
    expect([synced, twoLevel.cdPtr(5001, true, () => synced++)]).toEqual([1, cd + 64]);
    expect(synced).toBe(1);
    // Without IDR0.CD2L even 2^20 contexts are one linear table
    expect(new GuestCdTable(ram, pages, 12, false).s1fmt).toBe(0);
  });
});
