import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam } from '../vm/guest-ram.js';
import { GuestDmaApi } from './dma-iommu.js';
import type { GuestCacheTags } from './intel/cache.js';
import { DmarDomain } from './intel/domain.js';
import { GuestPageAllocator } from './page-alloc.js';

function rig(stage: 'first' | 'second', flush: 'strict' | 'lazy') {
  const host = new Host({ memory: 64 * 2 ** 20 });
  const ram = new GuestRam(host.spawnProcess(), 32 * 2 ** 20, host.mem);
  const pages = new GuestPageAllocator(ram);
  const domain = new DmarDomain(2, stage, ram, pages, 4, 2);
  domain.sids.add(0x18);
  const flushes: string[] = [];
  const tags = {
    flushRange: (_d: DmarDomain, s: number, l: number, ih: boolean) => void flushes.push(`range ${s.toString(16)}-${l.toString(16)} ih=${ih}`),
    flushAll: () => void flushes.push('all'),
    flushRangeNp: (_d: DmarDomain, s: number, l: number) => void flushes.push(`np ${s.toString(16)}-${l.toString(16)}`),
  } as unknown as GuestCacheTags;
  return { ram, pages, domain, flushes, api: new GuestDmaApi(domain, tags, flush, 2 ** 35) };
}

describe('the guest DMA API (dma-iommu.c)', () => {
  it('maps a buffer at a fresh IOVA with its page offset, writes the leaf, and unmaps it with a leaf-only flush (strict)', () => {
    const r = rig('first', 'strict');
    const iova = r.api.map(0x20_0123, 0x100, 'bidirectional');
    expect(iova).toBe(0xffff_f123);
    expect(r.api.gpaPfnOf(0xfffff)).toBe(0x200);
    // The guest's x86-64 leaf: GPA 0x200000 | P | RW | U | A | D.
    const w = new Uint32Array(2);
    r.ram.read64(r.domain.pgd, w);
    expect(w[0]! & 0x27).toBe(0x27);
    r.api.unmap(iova, 0x100);
    expect(r.flushes).toEqual(['np fffff-fffff', 'range fffff-fffff ih=true']);
    // The IOVA comes back at once.
    expect(r.api.map(0x20_0000, 0x1000, 'to-device')).toBe(0xffff_f000);
  });

  it('spans pages: a buffer crossing a page boundary takes two pages, aligned to their power of two', () => {
    const r = rig('second', 'strict');
    const iova = r.api.map(0x20_0ff0, 0x20, 'from-device');
    expect(iova).toBe(0xffff_eff0);
    expect([r.api.gpaPfnOf(0xffffe), r.api.gpaPfnOf(0xfffff)]).toEqual([0x200, 0x201]);
    expect(() => r.api.unmap(0x1000, 0x1000)).toThrow(RangeError);
  });

  it('lazy: unmaps queue their IOVAs; the 256th finds the ring full (255) and flushes everything once', () => {
    const r = rig('first', 'lazy');
    const seen = new Set<number>();
    for (let i = 0; i < 255; i++) {
      const iova = r.api.map(0x20_0000, 0x1000, 'to-device');
      seen.add(iova);
      r.api.unmap(iova, 0x1000);
    }
    // No IOVA was reused before a flush, and nothing was flushed yet.
    expect(seen.size).toBe(255);
    expect(r.flushes.filter((f) => !f.startsWith('np'))).toEqual([]);
    expect(r.api.queued).toBe(255);
    const iova = r.api.map(0x20_0000, 0x1000, 'to-device');
    r.api.unmap(iova, 0x1000);
    expect(r.flushes.filter((f) => !f.startsWith('np'))).toEqual(['all']);
    expect(r.api.queued).toBe(1);
    // The timer: one more flush for what is queued, then nothing more to do.
    r.api.flushQueue();
    r.api.flushQueue();
    expect(r.api.fqFlushes).toBe(2);
    expect(r.api.queued).toBe(0);
  });

  it('uses 2 MiB leaves when IOVA, GPA and length allow', () => {
    const r = rig('second', 'strict');
    const iova = r.api.map(0x40_0000, 0x40_0000, 'bidirectional');
    expect(iova % 0x20_0000).toBe(0);
    // The second-stage PDE of the first 2 MiB: GPA 0x400000 | PS | W | R.
    const l4 = new Uint32Array(2);
    r.ram.read64(r.domain.pgd + Math.floor(iova / 2 ** 39) * 8, l4);
    const l3 = l4[0]! & ~0xfff;
    r.ram.read64(l3 + (Math.floor(iova / 2 ** 30) % 512) * 8, l4);
    const l2 = l4[0]! & ~0xfff;
    r.ram.read64(l2 + (Math.floor(iova / 2 ** 21) % 512) * 8, l4);
    expect(l4[0]).toBe(0x40_0083);
    r.api.unmap(iova, 0x40_0000);
    r.ram.read64(l2 + (Math.floor(iova / 2 ** 21) % 512) * 8, l4);
    expect(l4[0]).toBe(0);
  });

  it('a 2 MiB leaf over a table left empty by earlier 4 KiB maps frees that table (generic_pt clear_contig)', () => {
    const r = rig('first', 'strict');
    // IOVA page 0x200 -> GPA page 0x500 creates a page table under the PDE of IOVA 2..4 MiB; unmapping leaves it empty.
    expect(r.domain.map(0x200, 0x500, 1, 3)).toBe(false);
    r.domain.unmap(0x200, 1);
    const free = r.pages.freePages;
    expect(r.domain.map(0x200, 0x400, 512, 3)).toBe(true);
    expect(r.pages.freePages).toBe(free + 1);
    // A live 4 KiB mapping under the PDE is not replaced (EADDRINUSE).
    r.domain.unmap(0x200, 512);
    r.domain.map(0x400, 0x500, 1, 3);
    expect(() => r.domain.map(0x400, 0x600, 512, 3)).toThrow(/EADDRINUSE/);
  });

  it('flushes with IH = 0 before the caching-mode flush when a map freed a table level', () => {
    const flushes: string[] = [];
    const tags = {
      flushRange: (_d: DmarDomain, s: number, l: number, ih: boolean) => void flushes.push(`range ${s.toString(16)}-${l.toString(16)} ih=${ih}`),
      flushRangeNp: (_d: DmarDomain, s: number, l: number) => void flushes.push(`np ${s.toString(16)}-${l.toString(16)}`),
    } as unknown as GuestCacheTags;
    const domain = { map: () => true } as unknown as DmarDomain;
    const api = new GuestDmaApi(domain, tags, 'strict', 2 ** 35);
    api.map(0x40_0000, 0x20_0000, 'bidirectional');
    expect(flushes).toEqual(['range ffe00-fffff ih=false', 'np ffe00-fffff']);
  });
});
