// A process address space (mm_struct): VMAs over MemObjects, lazy faults, FOLL_PIN page pinning.
import { ErrnoError } from './errno.js';
import type { FrameAllocator } from './frame-allocator.js';
import type { MemObject } from './mem-object.js';
import { PAGE_SIZE, type PhysMem } from './phys-mem.js';

/** x86-64 4-level user space ends here; mmap hands out addresses top-down below MMAP_BASE. */
export const USER_VA_END = 2 ** 47;
export const MMAP_BASE = 0x7f00_0000_0000;
export const MMAP_MIN_ADDR = 0x10000;

/** Per-VMA callbacks of the file that was mapped (vm_operations_struct open/close). */
export interface VmaOps {
  open?(): void;
  close?(): void;
}

/** A reference-counted object a VMA keeps alive (the mapped file). */
export interface VmaFileRef {
  get(): void;
  put(): void;
}

export interface Vma {
  start: number;
  end: number;
  readonly obj: MemObject;
  /** Page index into obj of `start`. */
  pgoff: number;
  readonly read: boolean;
  readonly write: boolean;
  readonly shared: boolean;
  readonly file: VmaFileRef | undefined;
  readonly ops: VmaOps | undefined;
  readonly name: string;
}

export interface MapRequest {
  /** Map exactly here (MAP_FIXED), replacing what was there unless noReplace. */
  fixed?: number;
  noReplace?: boolean;
  /** Alignment of a kernel-chosen address (power of two, >= PAGE_SIZE). */
  align?: number;
  read: boolean;
  write: boolean;
  shared: boolean;
  obj: MemObject;
  pgoff: number;
  file?: VmaFileRef;
  ops?: VmaOps;
  name?: string;
}

/** The VMA a map request makes at [start, start + length). */
export function vmaOf(start: number, length: number, req: MapRequest): Vma {
  const { obj, pgoff, read, write, shared, file, ops } = req;
  return { start, end: start + length, obj, pgoff, read, write, shared, file, ops, name: req.name ?? '' };
}

export class AddressSpace {
  private vmas: Vma[] = [];
  private dead = false;

  constructor(
    readonly frames: FrameAllocator,
    readonly mem: PhysMem,
  ) {}

  /** False once the owning process has exited and the mappings were torn down (exit_mmap). */
  get alive(): boolean {
    return !this.dead;
  }

  /** A snapshot of the mappings, lowest first. */
  get mappings(): readonly Vma[] {
    return this.vmas.slice();
  }

  find(va: number): Vma | undefined {
    let lo = 0;
    let hi = this.vmas.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.vmas[mid]!;
      if (va < v.start) hi = mid - 1;
      else if (va >= v.end) lo = mid + 1;
      else return v;
    }
    return undefined;
  }

  /** Maps `length` bytes (a multiple of PAGE_SIZE) and returns the start address. */
  map(length: number, req: MapRequest): number {
    this.assertAlive('mmap');
    if (length <= 0 || length % PAGE_SIZE !== 0) throw new ErrnoError('EINVAL', 'mmap', `length ${length}`);
    let start: number;
    if (req.fixed !== undefined) {
      start = req.fixed;
      if (start % PAGE_SIZE !== 0 || start < MMAP_MIN_ADDR || start + length > USER_VA_END) {
        throw new ErrnoError('EINVAL', 'mmap', `fixed address 0x${start.toString(16)}`);
      }
      if (this.overlaps(start, start + length)) {
        if (req.noReplace) throw new ErrnoError('EEXIST', 'mmap', 'MAP_FIXED_NOREPLACE over a mapping');
        this.unmap(start, length);
      }
    } else {
      start = this.findGap(length, Math.max(req.align ?? PAGE_SIZE, PAGE_SIZE));
    }
    const vma = vmaOf(start, length, req);
    this.insert(vma);
    return start;
  }

  /** munmap: removes [start, start + length), splitting mappings at the edges. */
  unmap(start: number, length: number): void {
    if (start % PAGE_SIZE !== 0 || length <= 0) throw new ErrnoError('EINVAL', 'munmap', `0x${start.toString(16)}+${length}`);
    const end = start + Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    this.vmas = this.cut(this.vmas, start, end);
  }

  /** What is left of `vmas` without [start, end): the edges split off as pieces, the rest dropped; sorted. */
  protected cut(vmas: readonly Vma[], start: number, end: number): Vma[] {
    const keep: Vma[] = [];
    for (const v of vmas) {
      if (v.end <= start || v.start >= end) {
        keep.push(v);
        continue;
      }
      if (v.start < start) keep.push(this.piece(v, v.start, start));
      if (v.end > end) keep.push(this.piece(v, end, v.end));
      this.drop(v);
    }
    return keep.sort((a, b) => a.start - b.start);
  }

  /** The frame backing `va`, populating it; EFAULT when unmapped or the access is not allowed. */
  fault(va: number, write: boolean): number {
    const v = this.vmaFor(va, write, 'fault');
    return v.obj.populate(v.pgoff + Math.floor((va - v.start) / PAGE_SIZE));
  }

  /**
   * pin_user_pages: populates and pins `npages` pages from `va` (page aligned), returning their
   * frames. On any failure nothing stays pinned.
   */
  pin(va: number, npages: number, write: boolean): Uint32Array {
    this.assertAlive('pin_user_pages');
    const out = new Uint32Array(npages);
    let i = 0;
    try {
      while (i < npages) {
        const a = va + i * PAGE_SIZE;
        const v = this.vmaFor(a, write, 'pin_user_pages');
        const run = Math.min(npages - i, (v.end - a) / PAGE_SIZE);
        const first = v.pgoff + (a - v.start) / PAGE_SIZE;
        this.beforePinRun(v, first, run);
        for (let k = 0; k < run; k++, i++) {
          const pfn = v.obj.populate(first + k);
          this.frames.pin(pfn);
          out[i] = pfn;
        }
      }
    } catch (e) {
      for (let k = 0; k < i; k++) this.frames.unpin(out[k]!);
      throw e;
    }
    return out;
  }

  /** Copies [va, va + length) out of the address space (the zero page for untouched memory). */
  read(va: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const a = va + done;
      const v = this.vmaFor(a, false, 'read');
      const off = a % PAGE_SIZE;
      const n = Math.min(length - done, PAGE_SIZE - off);
      const pfn = v.obj.readPfn(v.pgoff + Math.floor((a - v.start) / PAGE_SIZE));
      if (pfn !== 0) out.set(this.mem.read(pfn * PAGE_SIZE + off, n), done);
      done += n;
    }
    return out;
  }

  write(va: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      const a = va + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(bytes.length - done, PAGE_SIZE - off);
      const pfn = this.fault(a, true);
      this.mem.write(pfn * PAGE_SIZE + off, bytes.subarray(done, done + n));
      done += n;
    }
  }

  /** fork(): shared mappings are shared with the child, private ones copied. */
  fork(): AddressSpace {
    this.assertAlive('fork');
    const child = new AddressSpace(this.frames, this.mem);
    for (const v of this.vmas) {
      const obj = v.shared ? v.obj.get() : v.obj.copy();
      v.file?.get();
      v.ops?.open?.();
      child.vmas.push({ ...v, obj });
    }
    return child;
  }

  /** exit_mmap: every mapping goes; pinned frames stay with whoever pinned them. */
  teardown(): void {
    if (this.dead) return;
    for (const v of this.vmas) this.drop(v);
    this.vmas = [];
    this.dead = true;
  }

  /** Hook for address spaces that fetch a run of pages at once before they are pinned. */
  protected beforePinRun(_v: Vma, _first: number, _run: number): void {}

  protected vmaFor(va: number, write: boolean, syscall: string): Vma {
    this.assertAlive(syscall);
    const v = this.find(va);
    if (!v) throw new ErrnoError('EFAULT', syscall, `0x${va.toString(16)} is not mapped`);
    if (write ? !v.write : !v.read) {
      throw new ErrnoError('EFAULT', syscall, `0x${va.toString(16)} is not ${write ? 'writable' : 'readable'}`);
    }
    return v;
  }

  private assertAlive(syscall: string): void {
    if (this.dead) throw new ErrnoError('EFAULT', syscall, 'the address space is gone (process exited)');
  }

  private overlaps(start: number, end: number): boolean {
    return this.vmas.some((v) => v.start < end && v.end > start);
  }

  private findGap(length: number, align: number): number {
    let top = MMAP_BASE;
    for (let i = this.vmas.length - 1; i >= -1; i--) {
      const v = this.vmas[i];
      if (v && v.start >= top) continue;
      const floor = v ? v.end : MMAP_MIN_ADDR;
      const start = top - length - ((top - length) % align);
      if (start >= floor) return start;
      if (!v) break;
      top = v.start;
    }
    throw new ErrnoError('ENOMEM', 'mmap', `no ${length}-byte hole in the address space`);
  }

  private insert(v: Vma): void {
    let i = this.vmas.length;
    while (i > 0 && this.vmas[i - 1]!.start > v.start) i--;
    this.vmas.splice(i, 0, v);
  }

  protected piece(v: Vma, start: number, end: number): Vma {
    v.obj.get();
    v.file?.get();
    v.ops?.open?.();
    return { ...v, start, end, pgoff: v.pgoff + (start - v.start) / PAGE_SIZE };
  }

  protected drop(v: Vma): void {
    v.ops?.close?.();
    v.obj.put();
    v.file?.put();
  }
}
