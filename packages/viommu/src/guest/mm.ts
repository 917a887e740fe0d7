// A guest process's address space (Linux struct mm_struct): VMAs, pages brought in on first touch (handle_mm_fault),
// and the CPU's loads and stores, over the CPU's page tables in guest RAM: x86-64 rooted at CR3 here, AArch64 in
// mm-arm64.ts.
import { PAGE_SIZE, X86, X86PageTable } from '@iommu-lab/platform';
import type { GuestRam } from '../vm/guest-ram.js';
import type { GuestPageAllocator } from './page-alloc.js';

/** IOMMU_PASID_INVALID: the mm has no PASID yet. */
export const IOMMU_PASID_INVALID = -1;
/** Where user mappings start (below the canonical hole: user space ends at 2^47). */
const MMAP_BASE_PFN = 0x7f12_3400_0;

export interface GuestVma {
  readonly startPfn: number;
  readonly pages: number;
  readonly write: boolean;
}

/** handle_mm_fault's answer: the page is there now, or the access is not allowed (SIGSEGV for a CPU, INVALID for a device). */
export type MmFaultResult = 'ok' | 'segv';

/** What every process address space is, whatever the CPU's table format. */
export abstract class GuestProcessMm {
  readonly vmas: GuestVma[] = [];
  /** mm->pasid, given by the IOMMU layer at the first SVA bind. */
  pasid = IOMMU_PASID_INVALID;
  /** Page faults handled, for the CPU and for devices. */
  faults = 0;
  /** Table pages and data pages, given back at exit. */
  private readonly tables: number[] = [];
  private readonly frames = new Set<number>();
  private nextPfn = MMAP_BASE_PFN;

  constructor(
    readonly pid: number,
    protected readonly ram: GuestRam,
    private readonly pages: GuestPageAllocator,
  ) {}

  /** mm->pgd: the GPA of the root table (CR3, TTBR0). */
  abstract get pgd(): number;

  /** The GPA frame mapped at vaPfn, or -1 when no page is present. */
  abstract present(vaPfn: number): number;

  /** Whether the page at vaPfn is mapped writable. */
  protected abstract writable(vaPfn: number): boolean;

  /** Maps a user page; `vmaWrite`: the VMA allows writes; `writeAccess`: a write brought it in. */
  protected abstract mapPage(vaPfn: number, pfn: number, vmaWrite: boolean, writeAccess: boolean): void;

  protected abstract unmapPage(vaPfn: number): void;

  protected tablePage(): number {
    const pfn = this.pages.alloc(1) / PAGE_SIZE;
    this.tables.push(pfn);
    return pfn;
  }


  /** mmap of anonymous memory: a VMA only; pages come on first touch. Returns the address. */
  mmap(bytes: number, write = true): number {
    const pages = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    const vma: GuestVma = { startPfn: this.nextPfn, pages, write };
    this.vmas.push(vma);
    // A guard page between mappings.
    this.nextPfn += pages + 1;
    return vma.startPfn * PAGE_SIZE;
  }

  vmaOf(vaPfn: number): GuestVma | undefined {
    return this.vmas.find((v) => vaPfn >= v.startPfn && vaPfn < v.startPfn + v.pages);
  }

  /** handle_mm_fault: inside a VMA that allows the access, a zeroed page mapped user, accessed (and dirty if written). */
  handleMmFault(vaPfn: number, write: boolean): MmFaultResult {
    const vma = this.vmaOf(vaPfn);
    if (!vma || (write && !vma.write)) return 'segv';
    this.faults++;
    const cur = this.present(vaPfn);
    // A present page that could not be written is mapped again, writable (the VMA allows it); else a new zeroed page.
    this.mapPage(vaPfn, cur >= 0 ? cur : this.newPage(), vma.write, write);
    return 'ok';
  }

  private newPage(): number {
    const pfn = this.pages.alloc(1) / PAGE_SIZE;
    this.frames.add(pfn);
    return pfn;
  }

  /** zap_page_range: the pages of [va, va + bytes) leave the tables and go back; returns the pages that were present. */
  zap(va: number, bytes: number): number {
    let n = 0;
    for (let p = Math.floor(va / PAGE_SIZE); p < Math.ceil((va + bytes) / PAGE_SIZE); p++) {
      const pfn = this.present(p);
      if (pfn < 0) continue;
      this.unmapPage(p);
      this.frames.delete(pfn);
      this.pages.free(pfn * PAGE_SIZE);
      n++;
    }
    return n;
  }

  /** The GPA behind a user address for a CPU access, faulting the page in first; throws on SIGSEGV. */
  gpaOf(va: number, write: boolean): number {
    const vaPfn = Math.floor(va / PAGE_SIZE);
    let pfn = this.present(vaPfn);
    if (pfn < 0 || (write && !this.writable(vaPfn))) {
      if (this.handleMmFault(vaPfn, write) === 'segv') throw new RangeError(`pid ${this.pid}: segmentation fault at 0x${va.toString(16)}`);
      pfn = this.present(vaPfn);
    }
    return pfn * PAGE_SIZE + (va % PAGE_SIZE);
  }

  /** The CPU stores bytes at a user address (faulting pages in). */
  write(va: number, bytes: Uint8Array): void {
    for (let off = 0; off < bytes.length; ) {
      const n = Math.min(bytes.length - off, PAGE_SIZE - ((va + off) % PAGE_SIZE));
      this.ram.write(this.gpaOf(va + off, true), bytes.subarray(off, off + n));
      off += n;
    }
  }

  /** The CPU loads bytes from a user address (faulting pages in). */
  read(va: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let off = 0; off < length; ) {
      const n = Math.min(length - off, PAGE_SIZE - ((va + off) % PAGE_SIZE));
      out.set(this.ram.read(this.gpaOf(va + off, false), n), off);
      off += n;
    }
    return out;
  }

  /** Pages present in the tables (RSS). */
  get rss(): number {
    return this.frames.size;
  }

  /** exit_mmap: every page and every table page back to the allocator. */
  exit(): void {
    for (const pfn of this.frames) this.pages.free(pfn * PAGE_SIZE);
    this.frames.clear();
    for (const pfn of this.tables) this.pages.free(pfn * PAGE_SIZE);
    this.tables.length = 0;
    this.vmas.length = 0;
  }
}

/** An x86-64 process: 4-level tables rooted at CR3 (what the VT-d guest binds to a PASID). */
export class GuestMm extends GuestProcessMm {
  readonly pt: X86PageTable;

  constructor(pid: number, ram: GuestRam, pages: GuestPageAllocator) {
    super(pid, ram, pages);
    this.pt = new X86PageTable(ram, () => this.tablePage(), 4);
  }

  /** CR3: the GPA of the PML4. */
  get cr3(): number {
    return this.pt.root * PAGE_SIZE;
  }

  get pgd(): number {
    return this.cr3;
  }

  present(vaPfn: number): number {
    const e = this.pt.entry(vaPfn, 1);
    if (!e || (e[0] & X86.P) === 0) return -1;
    return (e[1] & 0xfffff) * 1048576 + (e[0] >>> 12);
  }

  protected writable(vaPfn: number): boolean {
    const e = this.pt.entry(vaPfn, 1);
    return e !== null && (e[0] & X86.RW) !== 0;
  }

  /** A user page, accessed, RW when the VMA allows writes, dirty when a write brought it in. */
  protected mapPage(vaPfn: number, pfn: number, vmaWrite: boolean, writeAccess: boolean): void {
    this.pt.map(vaPfn, pfn, 1, { user: true, write: vmaWrite, accessed: true, dirty: writeAccess });
  }

  protected unmapPage(vaPfn: number): void {
    this.pt.unmap(vaPfn);
  }
}
