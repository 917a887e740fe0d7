import { describe, expect, it } from 'vitest';
import { FaultInjector } from './fault-inject.js';
import { FrameAllocator } from './frame-allocator.js';
import { PhysMem } from './phys-mem.js';

const MiB = 2 ** 20;

describe('FrameAllocator', () => {
  it('never hands out the reserved low 1 MiB and gives zeroed frames', () => {
    const mem = new PhysMem(4 * MiB);
    const fa = new FrameAllocator(mem);
    expect(fa.totalFrames).toBe(1024);
    expect(fa.available).toBe(1024 - 256);
    const pfn = fa.allocFrame();
    expect(pfn).toBeGreaterThanOrEqual(256);
    expect(fa.refCount(pfn)).toBe(1);
    mem.setU32(pfn * 4096, 0xffffffff);
    fa.put(pfn);
    expect(fa.isAllocated(pfn)).toBe(false);
    expect(mem.u32(pfn * 4096)).toBe(0);
  });

  it('fails with ENOMEM when RAM is exhausted and recovers after frees', () => {
    const fa = new FrameAllocator(new PhysMem(2 * MiB));
    const got = Array.from({ length: 256 }, () => fa.allocFrame());
    expect(new Set(got).size).toBe(256);
    expect(() => fa.allocFrame()).toThrowError(expect.objectContaining({ code: 'ENOMEM', syscall: 'alloc_pages' }));
    fa.put(got[10]!);
    expect(fa.allocFrame()).toBe(got[10]);
  });

  it('coalesces buddies so a 2 MiB block is available again', () => {
    const fa = new FrameAllocator(new PhysMem(4 * MiB));
    const block = fa.alloc(9, true);
    expect(block % 512).toBe(0);
    expect(fa.isCompound(block + 100)).toBe(true);
    expect(() => fa.alloc(9)).toThrowError(expect.objectContaining({ code: 'ENOMEM' }));
    for (let i = 0; i < 512; i++) fa.put(block + i);
    expect(fa.isCompound(block + 100)).toBe(false);
    expect(fa.alloc(9)).toBe(block);
  });

  it('keeps a pinned frame alive after its last reference goes', () => {
    const fa = new FrameAllocator(new PhysMem(2 * MiB));
    const pfn = fa.allocFrame();
    fa.pin(pfn);
    fa.pin(pfn);
    fa.put(pfn);
    expect(fa.isAllocated(pfn)).toBe(true);
    expect(fa.pinCount(pfn)).toBe(2);
    fa.unpin(pfn);
    fa.unpin(pfn);
    expect(fa.isAllocated(pfn)).toBe(false);
    expect(() => fa.unpin(pfn)).toThrow(/not allocated/);
  });

  it('fails the armed allocation for fail-nth', () => {
    const faults = new FaultInjector();
    const fa = new FrameAllocator(new PhysMem(2 * MiB), faults);
    faults.arm(2);
    fa.allocFrame();
    expect(faults.armed).toBe(true);
    expect(() => fa.allocFrame()).toThrowError(expect.objectContaining({ code: 'ENOMEM' }));
    expect(faults.armed).toBe(false);
    expect(() => fa.allocFrame()).not.toThrow();
  });
});
