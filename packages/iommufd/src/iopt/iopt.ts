// struct io_pagetable: areas, reserved and allowed IOVA ranges, the domains kept filled, the accesses.
import { type IommuDomain, iommuMap, iommuUnmap, IOMMU_MMIO, IOMMU_CACHE } from '@iommu-lab/iommu-core';
import { ErrnoError, type FaultInjector, PAGE_SIZE } from '@iommu-lab/platform';
import { IoptArea } from './area.js';
import type { IoptPages } from './pages.js';
import { alignUp, holes, type IovaRange, lowestBit, overlaps, roundupPow2, ULONG_MAX } from './ranges.js';

const PAGE = BigInt(PAGE_SIZE);
/** HPAGE_SIZE on x86-64: auto IOVAs are aligned at most to a THP. */
const MAX_AUTO_ALIGN = 2n * 1024n * 1024n;

/** A slice of pages to place into an IOAS (struct iopt_pages_list). */
export interface PagesSlice {
  pages: IoptPages;
  /** Byte offset of the slice inside the pages. */
  startByte: number;
  length: bigint;
}

/** What the io_pagetable needs from an in-kernel access (struct iommufd_access). */
export interface IoptAccess {
  readonly iovaAlignment: number;
  /** ops->unmap: the access must unpin everything it pinned in [iova, iova + length). */
  notifyUnmap(iova: bigint, length: bigint): void;
  readonly internal: boolean;
}

interface Reserved extends IovaRange {
  owner: unknown;
}

export class IoPagetable {
  readonly areas: IoptArea[] = [];
  readonly reserved: Reserved[] = [];
  allowed: IovaRange[] = [];
  readonly domains: IommuDomain[] = [];
  readonly accesses: IoptAccess[] = [];
  /** Every IOVA, length and page offset must be a multiple of this. */
  iovaAlignment = 1;
  disableLargePages = false;

  constructor(private readonly faults: FaultInjector) {}

  // --- lookups ---------------------------------------------------------------------------

  /** Areas intersecting [start, last], lowest first. */
  areasIn(start: bigint, last: bigint): IoptArea[] {
    return this.areas.filter((a) => overlaps({ start: a.iova, last: a.last }, start, last));
  }

  firstArea(start: bigint, last: bigint): IoptArea | undefined {
    return this.areas.find((a) => a.iova <= last && a.last >= start);
  }

  reservedIn(start: bigint, last: bigint): boolean {
    return this.reserved.some((r) => overlaps(r, start, last));
  }

  /**
   * iopt_for_each_contig_area: the areas covering [iova, last] back to back from iova, and
   * whether they reach `last` (iopt_area_contig_done).
   */
  contig(iova: bigint, last: bigint): { areas: IoptArea[]; done: boolean } {
    const out: IoptArea[] = [];
    let cur = iova;
    for (;;) {
      const a = this.areas.find((x) => x.iova <= cur && x.last >= cur);
      if (!a || !a.pages || (out.length > 0 && a.iova !== cur)) return { areas: out, done: false };
      out.push(a);
      if (a.last >= last) return { areas: out, done: true };
      cur = a.last + 1n;
    }
  }

  // --- IOVA allocation --------------------------------------------------------------------

  /** iopt_alloc_iova: the lowest suitable hole of the allowed ranges; never IOVA 0. */
  allocIova(addr: bigint, length: bigint): bigint {
    if (length === 0n || length >= ULONG_MAX / 2n) throw new ErrnoError('EOVERFLOW', 'ioctl', 'length for IOVA allocation');
    const pageOffset = addr % PAGE;
    let align = addr === 0n ? roundupPow2(length) : [roundupPow2(length), lowestBit(addr)].reduce((a, b) => (a < b ? a : b));
    if (align >= MAX_AUTO_ALIGN) align = MAX_AUTO_ALIGN;
    if (align < BigInt(this.iovaAlignment)) throw new ErrnoError('EINVAL', 'ioctl', `IOVA alignment ${align} below the IOAS alignment ${this.iovaAlignment}`);
    const allowed = this.allowed.length ? holesOfUsed(this.allowed, PAGE, ULONG_MAX - PAGE) : [{ start: PAGE, last: ULONG_MAX - PAGE }];
    const fit = (r: IovaRange): bigint | null => {
      const start = alignUp(r.start, align) | pageOffset;
      if (start > ULONG_MAX || start >= r.last || r.last - start < length - 1n) return null;
      return start;
    };
    for (const a of allowed) {
      if (fit(a) === null) continue;
      const used = [...this.reserved, ...this.areas.map((x) => ({ start: x.iova, last: x.last }))];
      for (const hole of holes(used, a.start, a.last)) {
        const s = fit(hole);
        if (s !== null) return s;
      }
    }
    throw new ErrnoError('ENOSPC', 'ioctl', `no free IOVA range of ${length} bytes`);
  }

  /** iopt_check_iova: alignment, overflow, reserved (EINVAL) and overlap (EEXIST). */
  checkIova(iova: bigint, length: bigint): void {
    if (iova % BigInt(this.iovaAlignment) !== 0n) throw new ErrnoError('EINVAL', 'ioctl', `IOVA 0x${iova.toString(16)} not aligned to ${this.iovaAlignment}`);
    const last = iova + length - 1n;
    if (last > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'IOVA + length overflows');
    if (this.reservedIn(iova, last)) throw new ErrnoError('EINVAL', 'ioctl', `IOVA range 0x${iova.toString(16)}..0x${last.toString(16)} is reserved`);
    if (this.firstArea(iova, last)) throw new ErrnoError('EEXIST', 'ioctl', `IOVA range 0x${iova.toString(16)}..0x${last.toString(16)} is already mapped`);
  }

  // --- map / unmap ------------------------------------------------------------------------

  /**
   * iopt_map_pages: places the slices back to back at a chosen (alloc) or given IOVA, filling
   * every domain. Returns the IOVA. Takes over the slices' page references on success only.
   */
  mapPages(slices: readonly PagesSlice[], length: bigint, iova: bigint, alloc: boolean, prot: number, hintAddr: bigint): bigint {
    for (let i = 0; i < slices.length; i++) this.faults.check('iopt_area_alloc');
    if (length === 0n || length % BigInt(this.iovaAlignment) !== 0n) throw new ErrnoError('EINVAL', 'ioctl', `length ${length} (IOAS alignment ${this.iovaAlignment})`);
    if (alloc) iova = this.allocIova(hintAddr, length);
    else this.checkIova(iova, length);
    const areas: IoptArea[] = [];
    let cur = iova;
    for (const s of slices) {
      if (prot & 2 && !s.pages.writable) throw new ErrnoError('EPERM', 'ioctl', 'writable mapping of read-only pages');
      const area = new IoptArea(cur, s.startByte, s.length, prot);
      if (area.pageOffset % this.iovaAlignment !== 0) throw new ErrnoError('EINVAL', 'ioctl', `page offset ${area.pageOffset} not aligned to ${this.iovaAlignment}`);
      if (cur + s.length - 1n > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'IOVA + length overflows');
      areas.push(area);
      cur += s.length;
    }
    const filled: IoptArea[] = [];
    try {
      for (let i = 0; i < areas.length; i++) {
        this.fillDomains(areas[i]!, slices[i]!.pages);
        filled.push(areas[i]!);
      }
    } catch (e) {
      for (let i = 0; i < filled.length; i++) this.unfillDomains(filled[i]!, slices[i]!.pages);
      throw e;
    }
    for (let i = 0; i < areas.length; i++) {
      areas[i]!.pages = slices[i]!.pages;
      this.insertArea(areas[i]!);
    }
    return iova;
  }

  /**
   * iopt_unmap_iova_range: unmaps every area inside [start, last]; an area only partly inside
   * is ENOENT, a locked one EBUSY; accesses are asked to unpin first. Returns bytes unmapped.
   * All areas are checked before any is unmapped, so a failure changes nothing.
   */
  unmapRange(start: bigint, last: bigint): bigint {
    for (let tries = 0; ; tries++) {
      const victims = this.areasIn(start, last);
      for (const a of victims) {
        if (!a.pages) throw new ErrnoError('EBUSY', 'ioctl', 'area is being created or destroyed');
        if (a.numLocks) throw new ErrnoError('EBUSY', 'ioctl', `IOVA 0x${a.iova.toString(16)} is locked by an in-kernel user`);
        if (a.iova < start || a.last > last) throw new ErrnoError('ENOENT', 'ioctl', `unmap would split the area at 0x${a.iova.toString(16)}..0x${a.last.toString(16)}`);
      }
      const pinned = victims.find((a) => a.numAccesses > 0);
      if (pinned) {
        if (tries > 100) throw new ErrnoError('EDEADLK', 'ioctl', 'an access does not respond to unmap requests');
        pinned.preventAccess = true;
        for (const acc of [...this.accesses]) if (!acc.internal) acc.notifyUnmap(pinned.iova, pinned.length);
        continue;
      }
      let unmapped = 0n;
      for (const a of victims) {
        const pages = a.pages!;
        a.pages = null;
        this.unfillDomains(a, pages);
        this.removeArea(a);
        pages.areas.delete(a);
        putPages(pages);
        unmapped += a.length;
      }
      return unmapped;
    }
  }

  /** iopt_get_pages: page slices covering [iova, iova + length), with a reference each. */
  getPages(iova: bigint, length: bigint): PagesSlice[] {
    if (length === 0n) throw new ErrnoError('EINVAL', 'ioctl', 'length is 0');
    const last = iova + length - 1n;
    if (last > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'IOVA + length overflows');
    const { areas, done } = this.contig(iova, last);
    const out: PagesSlice[] = [];
    let cur = iova;
    try {
      for (const a of areas) {
        // One iopt_pages_list element per area.
        this.faults.check('iopt_get_pages');
        const end = a.last < last ? a.last : last;
        out.push({ pages: a.pages!, startByte: a.startByte(cur), length: end - cur + 1n });
        a.pages!.refs++;
        cur = end + 1n;
      }
      if (!done) throw new ErrnoError('ENOENT', 'ioctl', `0x${iova.toString(16)}+0x${length.toString(16)} is not fully mapped`);
    } catch (e) {
      for (const s of out) putPages(s.pages);
      throw e;
    }
    return out;
  }

  // --- reserved and allowed ranges -----------------------------------------------------------

  /** iopt_reserve_iova: EADDRINUSE when an area or an allowed range intersects. */
  reserve(start: bigint, last: bigint, owner: unknown): void {
    if (this.firstArea(start, last) || this.allowed.some((r) => overlaps(r, start, last))) {
      throw new ErrnoError('EADDRINUSE', 'ioctl', `0x${start.toString(16)}..0x${last.toString(16)} intersects a mapping or an allowed range`);
    }
    this.faults.check('iopt_reserve_iova');
    this.reserved.push({ start, last, owner });
  }

  removeReserved(owner: unknown): void {
    for (let i = this.reserved.length - 1; i >= 0; i--) if (this.reserved[i]!.owner === owner) this.reserved.splice(i, 1);
  }

  /** iopt_set_allow_iova: replaces the allowed list; EADDRINUSE if a reserved range intersects it. */
  setAllowed(ranges: IovaRange[]): void {
    for (const r of ranges) if (this.reservedIn(r.start, r.last)) throw new ErrnoError('EADDRINUSE', 'ioctl', 'allowed range intersects a reserved range');
    this.allowed = ranges;
  }

  // --- domains --------------------------------------------------------------------------------

  /** iopt_table_add_domain: reserve outside the aperture, fill the domain with every area. */
  addDomain(domain: IommuDomain): void {
    if (this.domains.includes(domain)) throw new ErrnoError('EEXIST', 'ioctl', 'domain already in the IOAS');
    const min = domain.pgsizes[0] ?? PAGE_SIZE;
    const align = Math.max(min, this.iovaAlignment);
    if (align > PAGE_SIZE) throw new ErrnoError('EINVAL', 'ioctl', `domain page size ${min} above PAGE_SIZE`);
    if (align !== this.iovaAlignment) this.checkAlignment(align);
    const g = domain.geometry;
    try {
      if (g.apertureStart !== 0n) this.reserve(0n, g.apertureStart - 1n, domain);
      if (g.apertureEnd !== ULONG_MAX) this.reserve(g.apertureEnd + 1n, ULONG_MAX, domain);
      const first = this.domains.length === 0;
      const done: IoptArea[] = [];
      try {
        for (const a of this.areas) {
          if (!a.pages) continue;
          if (first) {
            a.pages.hold(a.startIndex, a.lastIndex, 'domain');
            try {
              this.mapArea(a, domain);
              a.pages.updatePinned();
            } catch (e) {
              a.pages.release(a.startIndex, a.lastIndex);
              throw e;
            }
            a.inDomains = true;
          } else {
            a.pages.readHeld();
            this.mapArea(a, domain);
          }
          done.push(a);
        }
      } catch (e) {
        for (const a of done) {
          this.unmapArea(a, domain);
          if (first) {
            a.pages!.release(a.startIndex, a.lastIndex);
            a.inDomains = false;
          }
        }
        throw e;
      }
    } catch (e) {
      this.removeReserved(domain);
      throw e;
    }
    this.iovaAlignment = align;
    this.domains.push(domain);
  }

  /** iopt_table_remove_domain */
  removeDomain(domain: IommuDomain): void {
    const i = this.domains.indexOf(domain);
    if (i < 0) return;
    const last = this.domains.length - 1;
    this.domains[i] = this.domains[last]!;
    this.domains.pop();
    for (const a of this.areas) {
      if (!a.pages) continue;
      this.unmapArea(a, domain);
      if (this.domains.length === 0 && a.inDomains) {
        a.pages.release(a.startIndex, a.lastIndex);
        a.inDomains = false;
      }
    }
    this.removeReserved(domain);
    this.recalcAlignment();
  }

  // --- alignment and large pages -----------------------------------------------------------

  /** iopt_check_iova_alignment: EADDRINUSE if an area does not fit a larger alignment. */
  private checkAlignment(align: number): void {
    const a = BigInt(align);
    for (const x of this.areas) {
      if (x.iova % a !== 0n || x.length % a !== 0n || x.pageOffset % align !== 0) {
        throw new ErrnoError('EADDRINUSE', 'ioctl', `area at 0x${x.iova.toString(16)} is not aligned to ${align}`);
      }
    }
  }

  /** iopt_calculate_iova_alignment */
  recalcAlignment(): void {
    let align = this.disableLargePages ? PAGE_SIZE : 1;
    for (const d of this.domains) align = Math.max(align, d.pgsizes[0] ?? PAGE_SIZE);
    for (const acc of this.accesses) align = Math.max(align, acc.iovaAlignment);
    if (align > this.iovaAlignment) this.checkAlignment(align);
    this.iovaAlignment = align;
  }

  /** iopt_disable_large_pages: EINVAL once domains hold mappings. */
  disableLarge(): void {
    if (this.disableLargePages) return;
    if (this.domains.length && this.areas.length) throw new ErrnoError('EINVAL', 'ioctl', 'domains already have mappings');
    this.disableLargePages = true;
    try {
      this.recalcAlignment();
    } catch (e) {
      this.disableLargePages = false;
      throw e;
    }
  }

  enableLarge(): void {
    this.disableLargePages = false;
    this.recalcAlignment();
  }

  addAccess(access: IoptAccess): void {
    this.accesses.push(access);
    try {
      this.recalcAlignment();
    } catch (e) {
      this.accesses.pop();
      throw e;
    }
  }

  removeAccess(access: IoptAccess): void {
    const i = this.accesses.indexOf(access);
    if (i >= 0) this.accesses.splice(i, 1);
    this.recalcAlignment();
  }

  /**
   * iopt_cut_iova (VFIO type1 compatibility): splits areas so that each given IOVA becomes the
   * last byte of one. Not allowed over accesses or when domains may hold large pages.
   */
  cut(iovas: readonly bigint[]): void {
    for (const iova of iovas) {
      const a = this.firstArea(iova, iova);
      if (!a || iova === a.iova || iova === a.last) continue;
      const newStart = iova + 1n;
      if (!a.pages || a.preventAccess) throw new ErrnoError('EBUSY', 'ioctl', 'area is busy');
      if (a.pages.isDmabuf) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'cannot split a dma-buf area');
      const align = BigInt(this.iovaAlignment);
      if (newStart % align !== 0n || BigInt(a.startByte(newStart)) % align !== 0n) throw new ErrnoError('EINVAL', 'ioctl', 'split point not aligned');
      if (a.numAccesses) throw new ErrnoError('EINVAL', 'ioctl', 'cannot split an area with accesses');
      if (a.inDomains && !this.disableLargePages) throw new ErrnoError('EINVAL', 'ioctl', 'cannot split an area that may use large pages');
      this.faults.check('iopt_area_alloc');
      const lhs = new IoptArea(a.iova, a.startByte(a.iova), newStart - a.iova, a.prot);
      const rhs = new IoptArea(newStart, a.startByte(newStart), a.last - newStart + 1n, a.prot);
      for (const x of [lhs, rhs]) {
        x.pages = a.pages;
        x.inDomains = a.inDomains;
      }
      a.pages.refs++;
      a.pages.areas.delete(a);
      if (a.inDomains) {
        a.pages.share(rhs.startIndex, rhs.lastIndex);
        a.pages.share(lhs.startIndex, lhs.lastIndex);
        a.pages.release(a.startIndex, a.lastIndex);
      }
      this.removeArea(a);
      this.insertArea(lhs);
      this.insertArea(rhs);
    }
  }

  // --- domain filling ------------------------------------------------------------------------

  /** iopt_area_fill_domains: pin the area's pages and map them into every domain, or nothing. */
  private fillDomains(area: IoptArea, pages: IoptPages): void {
    if (this.domains.length === 0) return;
    area.pages = pages;
    pages.hold(area.startIndex, area.lastIndex, 'domain');
    const done: IommuDomain[] = [];
    try {
      for (const d of this.domains) {
        this.mapArea(area, d);
        done.push(d);
      }
      pages.updatePinned();
    } catch (e) {
      for (const d of done) this.unmapArea(area, d);
      pages.release(area.startIndex, area.lastIndex);
      area.pages = null;
      throw e;
    }
    area.pages = null;
    area.inDomains = true;
  }

  /** iopt_area_unfill_domains */
  private unfillDomains(area: IoptArea, pages: IoptPages): void {
    if (!area.inDomains) return;
    area.pages = pages;
    for (const d of this.domains) this.unmapArea(area, d);
    area.pages = null;
    pages.release(area.startIndex, area.lastIndex);
    area.inDomains = false;
  }

  /** batch_to_domain: contiguous PFN runs of the area mapped with iommu_map (PAGE_SIZE at a time when large pages are off). */
  mapArea(area: IoptArea, domain: IommuDomain): void {
    const pages = area.pages!;
    if (pages.revoked) return;
    const prot = pages.isDmabuf ? (area.prot & ~IOMMU_CACHE) | IOMMU_MMIO : area.prot;
    const pfns = pages.pfns;
    const base = Number(area.iova);
    // iovaOfIndex in numbers: the hot loop runs once per contiguous run of frames.
    const first = base - area.pageOffset - area.startIndex * PAGE_SIZE;
    const iovaAt = (k: number): number => (k === area.startIndex ? base : first + k * PAGE_SIZE);
    const stop = Number(area.last) + 1;
    let i = area.startIndex;
    // The end of what is mapped so far, for the unwind.
    let reached = base;
    try {
      while (i <= area.lastIndex) {
        let j = i;
        while (j < area.lastIndex && pfns[j + 1] === pfns[j]! + 1) j++;
        const iova = iovaAt(i);
        const end = j === area.lastIndex ? stop : iovaAt(j + 1);
        const pa = pfns[i]! * PAGE_SIZE + (i === area.startIndex ? area.pageOffset : 0);
        if (this.disableLargePages) {
          // batch_iommu_map_small: a failure unmaps the pages this run already mapped, too.
          for (let off = 0; off < end - iova; off += PAGE_SIZE) {
            iommuMap(domain, iova + off, pa + off, PAGE_SIZE, prot);
            reached = iova + off + PAGE_SIZE;
          }
        } else {
          iommuMap(domain, iova, pa, end - iova, prot);
        }
        reached = end;
        i = j + 1;
      }
    } catch (e) {
      if (reached > base) iommuUnmap(domain, base, reached - base);
      throw e;
    }
  }

  unmapArea(area: IoptArea, domain: IommuDomain): void {
    if (area.pages?.revoked) return;
    iommuUnmap(domain, Number(area.iova), Number(area.length));
  }

  private insertArea(a: IoptArea): void {
    let i = this.areas.length;
    while (i > 0 && this.areas[i - 1]!.iova > a.iova) i--;
    this.areas.splice(i, 0, a);
    a.pages!.areas.add(a);
    a.iopt = this;
  }

  private removeArea(a: IoptArea): void {
    const i = this.areas.indexOf(a);
    if (i >= 0) this.areas.splice(i, 1);
  }
}

/** The ranges of `used` clipped to [start, last] (the allowed list as spans to search). */
function holesOfUsed(used: readonly IovaRange[], start: bigint, last: bigint): IovaRange[] {
  return used
    .filter((u) => overlaps(u, start, last))
    .map((u) => ({ start: u.start < start ? start : u.start, last: u.last > last ? last : u.last }))
    .sort((a, b) => (a.start < b.start ? -1 : 1));
}

/** iopt_put_pages: the last reference releases the source (file, dma-buf attachment). */
export function putPages(pages: IoptPages): void {
  if (--pages.refs === 0) pages.destroy();
}
