// The guest kernel's page allocator over its RAM: contiguous runs of 4 KiB frames, handed out zeroed.
import { PAGE_SIZE } from '@iommu-lab/platform';
import type { GuestRam } from '../vm/guest-ram.js';

/** Low memory the firmware keeps (real-mode area, BIOS data): never handed out. */
export const GUEST_RESERVED_LOW = 1024 * 1024;

export class GuestPageAllocator {
  /** 1 = in use, per frame of the guest-physical space up to the top of RAM. */
  private readonly used: Uint8Array;
  /** Next-fit cursor (a frame number). */
  private cursor: number;
  private readonly topPfn: number;
  freePages = 0;

  constructor(private readonly ram: GuestRam) {
    const top = Math.max(...ram.sections.map((s) => s.gpa + s.size));
    this.topPfn = top / PAGE_SIZE;
    this.used = new Uint8Array(this.topPfn).fill(1);
    for (const s of ram.sections) {
      const from = Math.max(s.gpa, GUEST_RESERVED_LOW) / PAGE_SIZE;
      const to = (s.gpa + s.size) / PAGE_SIZE;
      if (to > from) {
        this.used.fill(0, from, to);
        this.freePages += to - from;
      }
    }
    this.cursor = GUEST_RESERVED_LOW / PAGE_SIZE;
  }

  /** `pages` contiguous frames aligned to `align` frames, zeroed; returns the first GPA. Throws when RAM is exhausted. */
  alloc(pages = 1, align = 1, zero = true): number {
    const pfn = this.find(pages, align, this.cursor) ?? this.find(pages, align, 0);
    if (pfn === undefined) throw new RangeError(`guest out of memory: no ${pages} contiguous free pages`);
    this.used.fill(1, pfn, pfn + pages);
    this.freePages -= pages;
    this.cursor = pfn + pages;
    const gpa = pfn * PAGE_SIZE;
    if (zero) this.ram.fill(gpa, pages * PAGE_SIZE, 0);
    return gpa;
  }

  /** Returns frames to the allocator. */
  free(gpa: number, pages = 1): void {
    const pfn = gpa / PAGE_SIZE;
    if (!Number.isInteger(pfn) || pfn + pages > this.topPfn) throw new RangeError(`free of a bad range 0x${gpa.toString(16)} +${pages} pages`);
    for (let i = pfn; i < pfn + pages; i++) {
      if (this.used[i] === 0) throw new RangeError(`double free of guest page 0x${(i * PAGE_SIZE).toString(16)}`);
      this.used[i] = 0;
    }
    this.freePages += pages;
  }

  private find(pages: number, align: number, from: number): number | undefined {
    let p = Math.ceil(from / align) * align;
    while (p + pages <= this.topPfn) {
      let ok = true;
      for (let i = 0; i < pages; i++) {
        if (this.used[p + i] !== 0) {
          ok = false;
          p = Math.ceil((p + i + 1) / align) * align;
          break;
        }
      }
      if (ok) return p;
    }
    return undefined;
  }
}
