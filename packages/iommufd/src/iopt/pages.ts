// struct iopt_pages: the user memory behind mappings, pinned once per page however many users need it.
import { iommuUnmap } from '@iommu-lab/iommu-core';
import { type DmaBufAttachment, ErrnoError, type FaultInjector, type MemObject, type Memfd, type OpenFile, PAGE_SIZE, type Process } from '@iommu-lab/platform';
import { type AccountMode, iommufdShouldFail } from '../context.js';
import type { IoptArea } from './area.js';
import { tempKmalloc } from './temp-memory.js';

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

  /** True when an access span (access_itree, backed by the pinned_pfns xarray) covers page k. */
  private inAccessSpan(k: number): boolean {
    for (const s of this.accessSpans) if (s.start <= k && k <= s.last) return true;
    return false;
  }

  /**
   * Adds a holder on pages [first, last]; pages without one are pinned now. On any failure nothing
   * changes. The fault-injection points are the kernel's for the reader: 'domain' is the
   * pfn_reader of iopt_area_fill_domain(s) (batch and upages from temp_kmalloc, pins in chunks
   * bounded by the temp memory limit); its caller maps the pages, then charges them with
   * updatePinned() or drops them with release(). 'access' is iopt_pages_fill_xarray (one pin per
   * hole into the caller's page array, then pages_to_xarray), charged here.
   */
  hold(first: number, last: number, reader: 'domain' | 'access'): void {
    const host = this.source.host;
    const faults = host.faults;
    if (reader === 'domain') tempKmalloc(faults, host, (last - first + 1) * 12);
    // Runs of pages pinned by this call, as [start, end] pairs, to undo on failure.
    const fresh: number[] = [];
    // Pages per pin call: the upages (or file folio) array once allocated; an access brings its own.
    let unum = reader === 'access' && this.src.kind === 'user' ? last - first + 1 : 0;
    try {
      let i = first;
      while (i <= last) {
        if (this.holders[i]! > 0) {
          let j = i;
          if (reader === 'domain') {
            while (j + 1 <= last && this.holders[j + 1]! > 0) j++;
          } else {
            // A span only domains hold is copied into the xarray (is_used == 2); one in it already is not.
            const xa = this.inAccessSpan(i);
            while (j + 1 <= last && this.holders[j + 1]! > 0 && this.inAccessSpan(j + 1) === xa) j++;
            if (!xa) pagesToXarray(faults);
          }
          i = j + 1;
          continue;
        }
        let j = i;
        while (j + 1 <= last && this.holders[j + 1] === 0) j++;
        if (!this.isDmabuf) {
          for (let k = i; k <= j; ) {
            if (!unum) unum = Math.max(1, Math.floor(tempKmalloc(faults, host, (j - k + 1) * 8) / 8));
            const n = Math.min(j - k + 1, unum);
            if (iommufdShouldFail(faults, 'pfn_reader_user_pin')) throw new ErrnoError('EFAULT', 'ioctl', 'pfn_reader_user_pin (fail-nth)');
            this.pinRun(k, k + n - 1);
            fresh.push(k, k + n - 1);
            k += n;
          }
          if (reader === 'access') pagesToXarray(faults);
        } else {
          this.pinRun(i, j);
          fresh.push(i, j);
        }
        i = j + 1;
      }
      if (reader === 'access') this.updatePinned();
    } catch (e) {
      for (let r = 0; r < fresh.length; r += 2) for (let k = fresh[r]!; k <= fresh[r + 1]!; k++) this.unpinPage(k);
      throw e;
    }
    for (let k = first; k <= last; k++) this.holders[k]!++;
  }

  /** pfn_reader_first for one more domain of an area whose pages a domain already holds: only the batch is allocated. */
  readHeld(): void {
    tempKmalloc(this.source.host.faults, this.source.host, 12);
  }

  /**
   * The failure points of iopt_pages_rw_slow's pfn reader over [first, last]: it pins the pages
   * nobody holds only while it copies them, so a failure there leaves nothing behind.
   */
  readSlow(first: number, last: number): void {
    const host = this.source.host;
    const faults = host.faults;
    tempKmalloc(faults, host, (last - first + 1) * 12);
    if (this.isDmabuf) return;
    let unum = 0;
    let i = first;
    while (i <= last) {
      if (this.holders[i]! > 0) {
        i++;
        continue;
      }
      let j = i;
      while (j + 1 <= last && this.holders[j + 1] === 0) j++;
      for (let k = i; k <= j; ) {
        if (!unum) unum = Math.max(1, Math.floor(tempKmalloc(faults, host, (j - k + 1) * 8) / 8));
        if (iommufdShouldFail(faults, 'pfn_reader_user_pin')) throw new ErrnoError('EFAULT', 'ioctl', 'pfn_reader_user_pin (fail-nth)');
        k += Math.min(j - k + 1, unum);
      }
      i = j + 1;
    }
  }

  /** One more holder on pages that already have one (an area split in two); pins nothing. */
  share(first: number, last: number): void {
    for (let k = first; k <= last; k++) {
      if (this.holders[k] === 0) throw new Error(`iopt_pages: page ${k} shared without a holder`);
    }
    for (let k = first; k <= last; k++) this.holders[k]!++;
  }

  /** Drops a holder on pages [first, last]; pages left without one are unpinned and uncharged (update_unpinned). */
  release(first: number, last: number): void {
    let gone = 0;
    for (let k = first; k <= last; k++) {
      if (this.holders[k] === 0) throw new Error(`iopt_pages: page ${k} released without a holder`);
      if (--this.holders[k]! === 0) {
        this.unpinPage(k);
        gone++;
      }
    }
    if (gone && !this.isDmabuf) this.updatePinned();
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

  /**
   * pfn_reader_user_update_pinned + iopt_pages_update_pinned: charges (may fail: fail-nth, the
   * rlimit) or uncharges (never fails) the change of npinned since the last update.
   */
  updatePinned(): void {
    if (this.npinned === this.lastNpinned) return;
    if (this.npinned < this.lastNpinned) {
      unchargePinned(this.source, this.accountMode, this.lastNpinned - this.npinned);
    } else {
      if (iommufdShouldFail(this.source.host.faults, 'pfn_reader_user_update_pinned')) throw new ErrnoError('ENOMEM', 'ioctl', 'pfn_reader_user_update_pinned (fail-nth)');
      chargePinned(this.source, this.accountMode, this.npinned - this.lastNpinned);
    }
    this.lastNpinned = this.npinned;
  }
}

/** pages_to_xarray: the xarray itself never fails under fail-nth, so iommufd injects EINVAL halfway. */
function pagesToXarray(faults: FaultInjector): void {
  if (iommufdShouldFail(faults, 'pages_to_xarray')) throw new ErrnoError('EINVAL', 'ioctl', 'pages_to_xarray (fail-nth)');
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
