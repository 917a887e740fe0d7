import { Host, PAGE_SIZE } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { MirrorObject, type PageView } from './mirror-object.js';

/** A real page source in memory: npages pages, each filled with its index + 1. */
class FakeView implements PageView {
  readonly pages: Uint8Array[];
  reads = 0;
  constructor(npages: number) {
    this.pages = Array.from({ length: npages }, (_, i) => new Uint8Array(PAGE_SIZE).fill(i + 1));
  }
  covers(index: number): boolean {
    return index < this.pages.length;
  }
  runEnd(): number {
    return this.pages.length;
  }
  readPage(index: number, dst: Uint8Array): boolean {
    this.reads++;
    for (let k = 0; k * PAGE_SIZE < dst.length; k++) dst.set(this.pages[index + k]!, k * PAGE_SIZE);
    return true;
  }
  writePage(index: number, src: Uint8Array): boolean {
    this.pages[index]!.set(src);
    return true;
  }
}

function setup(kind: 'shmem' | 'hugetlb', npages: number) {
  const host = new Host({ memory: 64 * 2 ** 20 });
  const released: MirrorObject[] = [];
  const o = new MirrorObject(host.frames, host.mem, kind, npages, 'k', (x) => released.push(x));
  const v = new FakeView(npages);
  o.views.add(v);
  return { host, o, v, released };
}

describe('MirrorObject', () => {
  it('gives a pinned page a frame holding the real bytes', () => {
    const { host, o } = setup('shmem', 8);
    const pfn = o.populate(5);
    expect(host.mem.u8(pfn * PAGE_SIZE)).toBe(6);
    expect(host.mem.u8(pfn * PAGE_SIZE + PAGE_SIZE - 1)).toBe(6);
    expect(o.populate(5)).toBe(pfn);
    expect(o.snapshots.get(5)![0]).toBe(6);
  });

  it('reads a run of pages in one go', () => {
    const { o, v } = setup('shmem', 300);
    o.populateRun(0, 300);
    // 256 pages per read: two reads for 300 pages.
    expect(v.reads).toBe(2);
    expect(o.populated.size).toBe(300);
  });

  it('backs hugetlb pages with whole 2 MiB compound blocks', () => {
    const { host, o } = setup('hugetlb', 1024);
    const pfn = o.populate(700);
    // 700 is in the second huge page (512..1023): its block starts 188 frames earlier.
    const base = pfn - 188;
    expect(base % 512).toBe(0);
    expect(host.frames.isCompound(base)).toBe(true);
    expect(o.pfn(512)).toBe(base);
    expect(o.pfn(1023)).toBe(base + 511);
    expect(o.pfn(0)).toBe(0);
    // Page 515 of the object holds the byte (515 + 1) & 0xff = 4.
    expect(host.mem.u8((base + 3) * PAGE_SIZE)).toBe(4);
  });

  it('trims unpinned pages and keeps pinned ones', () => {
    const { host, o } = setup('shmem', 4);
    const a = o.populate(0);
    const b = o.populate(1);
    host.frames.pin(b);
    o.trim();
    expect(o.pfn(0)).toBe(0);
    expect(o.pfn(1)).toBe(b);
    expect(host.frames.isAllocated(a)).toBe(false);
  });

  it('forgets detached pages; their pins keep the frames', () => {
    const { host, o } = setup('shmem', 4);
    const a = o.populate(2);
    host.frames.pin(a);
    o.detach(0, 3);
    expect(o.pfn(2)).toBe(0);
    expect(host.frames.isAllocated(a)).toBe(true);
    host.frames.unpin(a);
    expect(host.frames.isAllocated(a)).toBe(false);
  });

  it('releases its frames with its last user', () => {
    const { host, o, released } = setup('shmem', 4);
    const used = host.frames.used;
    o.populate(0);
    o.get();
    o.put();
    expect(released).toEqual([]);
    o.put();
    expect(released).toEqual([o]);
    expect(host.frames.used).toBe(used);
  });

  it('reads a shared page from its file before any mapping of it', () => {
    const { o, v } = setup('shmem', 4);
    const file = new FakeView(4);
    file.pages[2]!.fill(0x5e);
    o.file = file;
    const pfn = o.populate(2);
    expect(o.mem.u8(pfn * PAGE_SIZE)).toBe(0x5e);
    expect(v.reads).toBe(0);
    expect(file.reads).toBe(1);
  });

  it('refuses pages beyond its size and pfnmap pages', () => {
    const { o } = setup('shmem', 4);
    expect(() => o.populate(4)).toThrow(expect.objectContaining({ code: 'EFAULT' }));
    const host = new Host({ memory: 2 ** 21 });
    const p = new MirrorObject(host.frames, host.mem, 'pfnmap', 1, 'vvar', () => {});
    expect(() => p.populate(0)).toThrow(expect.objectContaining({ code: 'EFAULT' }));
  });
});
