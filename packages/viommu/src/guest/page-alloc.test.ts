import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam, ramLayout } from '../vm/guest-ram.js';
import { GUEST_RESERVED_LOW, GuestPageAllocator } from './page-alloc.js';

describe('the guest page allocator', () => {
  it('hands out zeroed pages above low memory, aligned when asked, and takes them back', () => {
    const host = new Host({ memory: 64 * 2 ** 20 });
    const ram = new GuestRam(host.spawnProcess(), 16 * 2 ** 20, host.mem);
    const pages = new GuestPageAllocator(ram);
    ram.setU32(GUEST_RESERVED_LOW, 0xffff_ffff);
    const a = pages.alloc(1);
    expect(a).toBe(GUEST_RESERVED_LOW);
    expect(ram.u32(a)).toBe(0);
    const b = pages.alloc(4, 4);
    expect(b % (4 * 4096)).toBe(0);
    pages.free(a);
    expect(() => pages.free(a)).toThrow(RangeError);
    expect(pages.freePages).toBe((16 * 2 ** 20 - GUEST_RESERVED_LOW) / 4096 - 4);
  });

  it('knows only RAM: on q35 with 3 GiB (2 GiB low) the hole below 4 GiB is never handed out', () => {
    const host = new Host({ memory: 64 * 2 ** 20 });
    const ram = new GuestRam(host.spawnProcess(), 3 * 2 ** 30, host.mem, ramLayout('q35', 3 * 2 ** 30));
    const pages = new GuestPageAllocator(ram);
    const big = pages.alloc(2 ** 19 - 256, 1, false);
    expect(big).toBe(GUEST_RESERVED_LOW);
    // The next run comes from RAM above 4 GiB.
    expect(pages.alloc(1, 1, false)).toBe(4 * 2 ** 30);
  });
});
