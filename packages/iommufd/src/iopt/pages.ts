// struct iopt_pages: the user memory behind mappings, pinned once per page however many users need it.
import { iommuUnmap } from '@iommu-lab/iommu-core';
import { type DmaBufAttachment, ErrnoError, type MemObject, type Memfd, type OpenFile, PAGE_SIZE, type Process } from '@iommu-lab/platform';
import type { AccountMode } from '../context.js';
import type { IoptArea } from './area.js';

/** What the pages are: a range of a process's memory, of a file, or of a dma-buf. */
export type PagesSource =
  | { readonly kind: 'user'; readonly uptr: number }
  | { readonly kind: 'file'; readonly obj: MemObject; readonly memfd: Memfd; readonly start: number }
  | { readonly kind: 'dmabuf'; readonly attach: DmaBufAttachment; readonly file: OpenFile; readonly start: number };

/**
 * A page is pinned while it has a holder: an area installed in at least one domain
 * (domains_itree), or an access that pinned it (access_itree). Pinned pages are charged to the
 * source process and user by the account mode, and counted in the process's VmPin.
 */
export class IoptPages {
  /** kref: areas and in-flight page lists. */
  refs = 1;
  readonly npages: number;
  readonly pfns: Uint32Array;
  private readonly holders: Uint32Array;
  npinned = 0;
  lastNpinned = 0;
  source: Process;
  accountMode: AccountMode;
  /** Access spans [start, last] (page indexes) with their users (iopt_pages_access). */
  readonly accessSpans: { start: number; last: number; users: number }[] = [];
  /** The areas (in any IOAS) that map these pages. */
  readonly areas = new Set<IoptArea>();

  constructor(
    readonly src: PagesSource,
    /** Byte offset of the first mapped byte inside page 0. */
    startByte: number,
    length: number,
    readonly writable: boolean,
    proc: Process,
  ) {
    this.npages = Math.ceil((length + startByte) / PAGE_SIZE);
    this.pfns = new Uint32Array(this.npages);
    this.holders = new Uint32Array(this.npages);
    this.source = proc;
    this.accountMode = proc.capable('CAP_IPC_LOCK') || src.kind === 'dmabuf' ? 'none' : 'user';
    if (src.kind === 'file') src.obj.get();
  }

  /** iopt_release_pages: the last reference is gone; drop the file or the dma-buf. */
  destroy(): void {
    if (this.npinned !== 0) throw new Error(`iopt_pages released with ${this.npinned} pages pinned`);
    if (this.src.kind === 'file') this.src.obj.put();
    if (this.src.kind === 'dmabuf') {
      this.src.attach.detach();
      this.src.file.put();
    }
  }

  /** iopt_revoke_notify: the exporter revoked a dma-buf; unmap it from every domain, for good. */
  onRevoke(): void {
    if (this.src.kind !== 'dmabuf' || this.revoked) return;
    for (const area of this.areas) {
      if (!area.inDomains || !area.iopt) continue;
      for (const d of area.iopt.domains) iommuUnmap(d, Number(area.iova), Number(area.length));
    }
    this.src.attach.phys = null;
  }

  get isDmabuf(): boolean {
    return this.src.kind === 'dmabuf';
  }

  /** A dma-buf whose exporter revoked access maps nothing (iopt_dmabuf_revoked). */
  get revoked(): boolean {
    return this.src.kind === 'dmabuf' && this.src.attach.revoked;
  }

  holdersOf(index: number): number {
    return this.holders[index]!;
  }

  /**
   * Adds a holder on pages [first, last]; pages without one are pinned now and charged. On any
   * failure (EFAULT, ENOMEM for the rlimit) nothing changes.
   */
  hold(first: number, last: number): void {
    // Runs of pages pinned by this call, as [start, end] pairs, to undo on failure.
    const fresh: number[] = [];
    let count = 0;
    try {
      let i = first;
      while (i <= last) {
        if (this.holders[i]! > 0) {
          i++;
          continue;
        }
        let j = i;
        while (j + 1 <= last && this.holders[j + 1] === 0) j++;
        this.pinRun(i, j);
        fresh.push(i, j);
        count += j - i + 1;
        i = j + 1;
      }
      if (count && !this.isDmabuf) this.charge(count);
    } catch (e) {
      for (let r = 0; r < fresh.length; r += 2) for (let k = fresh[r]!; k <= fresh[r + 1]!; k++) this.unpinPage(k);
      throw e;
    }
    for (let k = first; k <= last; k++) this.holders[k]!++;
  }

  /** Drops a holder on pages [first, last]; pages left without one are unpinned and uncharged. */
  release(first: number, last: number): void {
    let gone = 0;
    for (let k = first; k <= last; k++) {
      if (this.holders[k] === 0) throw new Error(`iopt_pages: page ${k} released without a holder`);
      if (--this.holders[k]! === 0) {
        this.unpinPage(k);
        gone++;
      }
    }
    if (gone && !this.isDmabuf) this.uncharge(gone);
  }

  private pinRun(first: number, last: number): void {
    const n = last - first + 1;
    const src = this.src;
    if (src.kind === 'user') {
      const got = this.source.mm.pin(src.uptr + first * PAGE_SIZE, n, this.writable);
      this.pfns.set(got, first);
    } else if (src.kind === 'file') {
      const base = src.start / PAGE_SIZE;
      // memfd_pin_folios: EINVAL when the range ends at or beyond i_size.
      if (src.start + (last + 1) * PAGE_SIZE - 1 >= src.memfd.size) throw new ErrnoError('EINVAL', 'ioctl', `file page ${base + last} beyond the end of the file`);
      for (let k = first; k <= last; k++) {
        const pfn = src.obj.populate(base + k);
        src.obj.frames.pin(pfn);
        this.pfns[k] = pfn;
      }
    } else {
      const base = src.start / PAGE_SIZE;
      for (let k = first; k <= last; k++) this.pfns[k] = src.attach.pfn(base + k);
      return;
    }
    this.npinned += n;
  }

  private unpinPage(k: number): void {
    const pfn = this.pfns[k]!;
    this.pfns[k] = 0;
    if (this.src.kind === 'dmabuf') return;
    this.npinned--;
    this.source.host.frames.unpin(pfn);
  }

  /** iopt_pages_update_pinned(inc): charge n newly pinned pages by the account mode. */
  private charge(n: number): void {
    if (this.shouldFailCharge()) throw new ErrnoError('ENOMEM', 'ioctl', 'fail-nth while charging pinned pages');
    chargePinned(this.source, this.accountMode, n);
    this.lastNpinned = this.npinned;
  }

  private uncharge(n: number): void {
    unchargePinned(this.source, this.accountMode, n);
    this.lastNpinned = this.npinned;
  }

  private shouldFailCharge(): boolean {
    try {
      this.source.host.faults.check('iopt_pages_update_pinned');
      return false;
    } catch {
      return true;
    }
  }
}

/** Charges n pinned pages to a process (VmPin) and, by mode, to its user or mm locked_vm (RLIMIT_MEMLOCK). */
export function chargePinned(proc: Process, mode: AccountMode, n: number): void {
  const limit = Math.floor(proc.rlimitMemlock / PAGE_SIZE);
  if (mode === 'user') {
    if (proc.user.lockedVm + n > limit) throw new ErrnoError('ENOMEM', 'ioctl', `RLIMIT_MEMLOCK: ${proc.user.lockedVm + n} pages > ${limit}`);
    proc.user.lockedVm += n;
  } else if (mode === 'mm') {
    if (proc.lockedVm + n > limit && !proc.capable('CAP_IPC_LOCK')) throw new ErrnoError('ENOMEM', 'ioctl', `RLIMIT_MEMLOCK: ${proc.lockedVm + n} pages > ${limit}`);
    proc.lockedVm += n;
  }
  proc.pinnedVm += n;
}

export function unchargePinned(proc: Process, mode: AccountMode, n: number): void {
  if (mode === 'user') proc.user.lockedVm -= n;
  else if (mode === 'mm') proc.lockedVm -= n;
  proc.pinnedVm -= n;
}
