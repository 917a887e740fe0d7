import { Host, walkX86, X86Walk } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam } from '../vm/guest-ram.js';
import { GuestMm, IOMMU_PASID_INVALID } from './mm.js';
import { GuestPageAllocator } from './page-alloc.js';

function rig() {
  const host = new Host({ memory: 64 * 2 ** 20 });
  const ram = new GuestRam(host.spawnProcess(), 16 * 2 ** 20, host.mem);
  const pages = new GuestPageAllocator(ram);
  return { ram, pages, mm: new GuestMm(1000, ram, pages) };
}

describe('a guest process address space', () => {
  it('maps anonymous memory lazily; the first touch puts a user page in x86-64 tables rooted at CR3', () => {
    const { ram, mm } = rig();
    expect(mm.pasid).toBe(IOMMU_PASID_INVALID);
    const va = mm.mmap(3 * 4096);
    // User space, below the canonical hole; nothing present yet.
    expect(va).toBe(0x7f12_3400_0000);
    expect(mm.present(va / 4096)).toBe(-1);
    expect(mm.handleMmFault(va / 4096 + 1, true)).toBe('ok');
    const pfn = mm.present(va / 4096 + 1);
    expect(pfn).toBeGreaterThan(0);
    // The leaf: P | RW | U/S | A | D = 0x67 with the frame; the tables above it P | RW | U/S | A = 0x27.
    const [lo, hi] = mm.pt.entry(va / 4096 + 1, 1)!;
    expect(lo >>> 0).toBe(((pfn * 4096) % 2 ** 32 | 0x67) >>> 0);
    expect(hi).toBe(0);
    expect(mm.pt.entry(va / 4096 + 1, 2)![0] & 0xfff).toBe(0x27);
    // A write walk from CR3 finds the same frame, writable and user-accessible at every level.
    const w = new X86Walk();
    expect(walkX86(ram, mm.pt.root, va / 4096 + 1, true, { levels: 4 }, w)).toBe(true);
    expect(w).toMatchObject({ pfn, level: 1, writable: true, user: true, dirty: true });
    expect(mm.faults).toBe(1);
  });

  it('answers SIGSEGV outside every VMA or for a write to a read-only VMA; a read-only page is mapped without RW', () => {
    const { mm } = rig();
    const ro = mm.mmap(4096, false);
    expect(mm.handleMmFault(ro / 4096 + 5, false)).toBe('segv');
    expect(mm.handleMmFault(ro / 4096, true)).toBe('segv');
    expect(mm.handleMmFault(ro / 4096, false)).toBe('ok');
    expect(mm.pt.entry(ro / 4096, 1)![0] & 0x2).toBe(0);
    expect(() => mm.write(ro, Uint8Array.of(1))).toThrow(/segmentation fault/);
  });

  it('CPU stores and loads go through the tables (faulting pages in); zap and exit give every page back', () => {
    const { pages, ram } = rig();
    const free = pages.freePages;
    const mm = new GuestMm(1001, ram, pages);
    const va = mm.mmap(8192);
    mm.write(va + 4090, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    expect([...mm.read(va + 4092, 4)]).toEqual([3, 4, 5, 6]);
    expect(mm.rss).toBe(2);
    expect(mm.zap(va, 4096)).toBe(1);
    expect(mm.present(va / 4096)).toBe(-1);
    // The zapped page comes back zeroed on the next touch.
    expect([...mm.read(va + 4094, 2)]).toEqual([0, 0]);
    mm.exit();
    // The pages and the four levels of tables (PML4 to PT) all went back.
    expect(pages.freePages).toBe(free);
  });
});
