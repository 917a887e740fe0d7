import { A64Walk, Host, walkA64 } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam } from '../vm/guest-ram.js';
import { GuestMmArm64 } from './mm-arm64.js';
import { GuestPageAllocator } from './page-alloc.js';

function rig() {
  const host = new Host({ memory: 64 * 2 ** 20 });
  const ram = new GuestRam(host.spawnProcess(), 16 * 2 ** 20, host.mem);
  const pages = new GuestPageAllocator(ram);
  return { ram, pages, mm: new GuestMmArm64(1000, ram, pages) };
}

const read64 = (ram: GuestRam, gpa: number) => ram.u64(gpa);

describe('an AArch64 guest process', () => {
  it('maps a touched page in 4-level VMSAv8-64 tables at TTBR0: young, clean until written, EL0, nG, inner-shareable', () => {
    const { ram, mm } = rig();
    const va = mm.mmap(2 * 4096);
    expect(va).toBe(0x7f12_3400_0000);
    expect(mm.pgd).toBe(mm.ttbr0);
    expect(mm.handleMmFault(va / 4096, false)).toBe('ok');
    const pfn = mm.present(va / 4096);
    expect(pfn).toBeGreaterThan(0);
    // VA 0x7f12_3400_0000: L0 index bits 47:39 = 0xfe, L1 38:30 = 0x48, L2 29:21 = 0x1a0, L3 20:12 = 0.
    const l0 = read64(ram, mm.ttbr0 + 0xfe * 8);
    // A table descriptor: V | table (0b11) and the next table's address.
    expect(l0 & 0xfffn).toBe(3n);
    const l1 = read64(ram, Number(l0 & 0xffff_ffff_f000n) + 0x48 * 8);
    const l2 = read64(ram, Number(l1 & 0xffff_ffff_f000n) + 0x1a0 * 8);
    const leaf = read64(ram, Number(l2 & 0xffff_ffff_f000n));
    // Page: V | page (0x3) | AttrIndx 0 | AP[1] EL0 (0x40) | AP[2] read-only (0x80) | SH 3 (0x300) | AF (0x400) | nG (0x800)
    expect(leaf).toBe(BigInt(pfn * 4096) | 0xfc3n);
    // A write makes it writable (AP[2] = 0): 0xf43.
    expect(mm.handleMmFault(va / 4096, true)).toBe('ok');
    expect(read64(ram, Number(l2 & 0xffff_ffff_f000n))).toBe(BigInt(pfn * 4096) | 0xf43n);
    expect(mm.present(va / 4096)).toBe(pfn);
    // The stage-1 walk an SMMU does from TTB0 (T0SZ 16) finds the same page, writable, EL0.
    const w = new A64Walk();
    expect(walkA64(ram, mm.ttbr0 / 4096, va / 4096, { stage: 1, startLevel: 0, inputBits: 48, outputBits: 48, accessFlagFaults: true }, w)).toBe(true);
    expect(w).toMatchObject({ pfn, level: 3, write: true, user: true });
  });

  it('CPU stores fault pages in writable, loads read-only; zap and exit give every page back', () => {
    const { pages, ram } = rig();
    const free = pages.freePages;
    const mm = new GuestMmArm64(1001, ram, pages);
    const va = mm.mmap(3 * 4096);
    mm.write(va + 4090, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    expect([...mm.read(va + 4092, 4)]).toEqual([3, 4, 5, 6]);
    expect([...mm.read(va + 2 * 4096, 2)]).toEqual([0, 0]);
    expect(mm.rss).toBe(3);
    // The page only read stays read-only; the CPU's store upgrades it (a second fault).
    const faults = mm.faults;
    mm.write(va + 2 * 4096, Uint8Array.of(9));
    expect(mm.faults).toBe(faults + 1);
    expect(mm.handleMmFault(va / 4096 + 4, false)).toBe('segv');
    expect(mm.zap(va, 4096)).toBe(1);
    expect(mm.present(va / 4096)).toBe(-1);
    mm.exit();
    expect(pages.freePages).toBe(free);
  });
});
