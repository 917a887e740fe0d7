// struct iommufd_access: an in-kernel user (an mdev, a vIOMMU's queue) reading or pinning an IOAS.
import { IOMMU_READ, IOMMU_WRITE } from '@iommu-lab/iommu-core';
import { ErrnoError, PAGE_SIZE } from '@iommu-lab/platform';
import { type IommufdCtx, iommufdShouldFail } from './context.js';
import { getIoas, type IommufdIoas } from './ioas.js';
import type { IoptArea } from './iopt/area.js';
import type { IoptAccess } from './iopt/iopt.js';
import { ULONG_MAX } from './iopt/ranges.js';
import { IommufdObject } from './object.js';

export const IOMMUFD_ACCESS_RW_READ = 0;
export const IOMMUFD_ACCESS_RW_WRITE = 1 << 0;
export const IOMMUFD_ACCESS_RW_KTHREAD = 1 << 1;
/** Only for the selftest: force the page-by-page path. */
export const IOMMUFD_ACCESS_RW_SLOW_PATH = 1 << 2;

/** struct iommufd_access_ops */
export interface IommufdAccessOps {
  readonly needsPinPages: boolean;
  /** The access must unpin everything it pinned in [iova, iova + length) before returning. */
  unmap(iova: bigint, length: bigint): void;
}


export class IommufdAccess extends IommufdObject implements IoptAccess {
  readonly type = 'ACCESS';
  ioas: IommufdIoas | null = null;
  /** The IOAS unpin goes to (stays set while a replace is in flight). */
  ioasUnpin: IommufdIoas | null = null;
  readonly iovaAlignment: number;
  readonly internal: boolean;

  constructor(
    readonly ctx: IommufdCtx,
    readonly ops: IommufdAccessOps | null,
  ) {
    super();
    this.internal = ops === null;
    this.iovaAlignment = ops === null || ops.needsPinPages ? PAGE_SIZE : 1;
  }

  notifyUnmap(iova: bigint, length: bigint): void {
    this.ops?.unmap(iova, length);
  }

  destroy(): void {
    if (this.ioas) this.changeIoas(null);
    if (!this.internal) this.ctx.file?.put();
  }

  /** iommufd_access_change_ioas */
  changeIoas(ioas: IommufdIoas | null): void {
    const cur = this.ioas;
    if (cur !== this.ioasUnpin) throw new ErrnoError('EBUSY', 'ioctl', 'access is being detached');
    if (cur === ioas) return;
    this.ioas = null;
    if (ioas) {
      try {
        ioas.iopt.addAccess(this);
      } catch (e) {
        this.ioas = cur;
        throw e;
      }
      ioas.get();
    }
    if (cur) {
      if (!this.internal) this.ops!.unmap(0n, ULONG_MAX);
      cur.iopt.removeAccess(this);
      cur.put();
    }
    this.ioas = ioas;
    this.ioasUnpin = ioas;
  }

  /** iommufd_access_attach */
  attach(ioasId: number): void {
    if (this.ioas) throw new ErrnoError('EINVAL', 'ioctl', 'access is already attached');
    this.changeIoas(getIoas(this.ctx, ioasId));
  }

  /** iommufd_access_replace: ENOENT when not attached. */
  replace(ioasId: number): void {
    if (!this.ioas) throw new ErrnoError('ENOENT', 'ioctl', 'access is not attached');
    this.changeIoas(getIoas(this.ctx, ioasId));
  }

  detach(): void {
    if (this.ioas) this.changeIoas(null);
  }

  /**
   * iommufd_access_pin_pages: pins [iova, iova + length) (page aligned ends inside each area) and
   * returns the frames; an unmap of those IOVAs first asks ops.unmap to unpin.
   */
  pinPages(iova: bigint, length: bigint, flags: number): Uint32Array {
    if (this.iovaAlignment !== PAGE_SIZE || (!this.internal && !this.ops)) throw new ErrnoError('EINVAL', 'ioctl', 'access cannot pin pages');
    if (length === 0n) throw new ErrnoError('EINVAL', 'ioctl', 'length is 0');
    const last = iova + length - 1n;
    if (last > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'iova + length overflows');
    const ioas = this.ioas;
    if (!ioas) throw new ErrnoError('ENOENT', 'ioctl', 'access is not attached');
    const { areas, done } = ioas.iopt.contig(iova, last);
    const out: number[] = [];
    const added: [IoptArea, number, number][] = [];
    let cur = iova;
    try {
      for (const area of areas) {
        const end = area.last < last ? area.last : last;
        const first = area.indexOf(cur);
        const lastIndex = area.indexOf(end);
        const aligned = area.startByte(cur) % PAGE_SIZE === 0 && (end === last || area.startByte(area.last) % PAGE_SIZE === PAGE_SIZE - 1);
        if (area.preventAccess || !aligned) throw new ErrnoError('EINVAL', 'ioctl', 'area is being unmapped or the range is not page aligned');
        if (!(area.prot & (flags & IOMMUFD_ACCESS_RW_WRITE ? IOMMU_WRITE : IOMMU_READ))) throw new ErrnoError('EPERM', 'ioctl', 'mapping does not allow that access');
        addAccess(area, first, lastIndex, flags, this.internal);
        added.push([area, first, lastIndex]);
        for (let k = first; k <= lastIndex; k++) out.push(area.pages!.pfns[k]!);
        cur = end + 1n;
      }
      if (!done) throw new ErrnoError('ENOENT', 'ioctl', `0x${iova.toString(16)}+0x${length.toString(16)} is not fully mapped`);
    } catch (e) {
      for (const [area, first, lastIndex] of added) removeAccess(area, first, lastIndex, this.internal);
      throw e;
    }
    return Uint32Array.from(out);
  }

  /** iommufd_access_unpin_pages */
  unpinPages(iova: bigint, length: bigint): void {
    const ioas = this.ioasUnpin;
    if (!ioas || length === 0n) return;
    const last = iova + length - 1n;
    const { areas } = ioas.iopt.contig(iova, last);
    let cur = iova;
    for (const area of areas) {
      const end = area.last < last ? area.last : last;
      removeAccess(area, area.indexOf(cur), area.indexOf(end), this.internal);
      cur = end + 1n;
    }
  }

  /** iommufd_access_rw: copies through the IOAS into or out of `data`. */
  rw(iova: bigint, data: Uint8Array, flags: number): void {
    if (data.length === 0) throw new ErrnoError('EINVAL', 'ioctl', 'length is 0');
    const last = iova + BigInt(data.length) - 1n;
    if (last > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'iova + length overflows');
    const ioas = this.ioas;
    if (!ioas) throw new ErrnoError('ENOENT', 'ioctl', 'access is not attached');
    const { areas, done } = ioas.iopt.contig(iova, last);
    let cur = iova;
    let off = 0;
    for (const area of areas) {
      const end = area.last < last ? area.last : last;
      const n = Number(end - cur + 1n);
      if (area.preventAccess) throw new ErrnoError('EINVAL', 'ioctl', 'area is being unmapped');
      if (!(area.prot & (flags & IOMMUFD_ACCESS_RW_WRITE ? IOMMU_WRITE : IOMMU_READ))) throw new ErrnoError('EPERM', 'ioctl', 'mapping does not allow that access');
      pagesRw(area, area.startByte(cur), data.subarray(off, off + n), flags);
      off += n;
      cur = end + 1n;
    }
    if (!done) throw new ErrnoError('ENOENT', 'ioctl', `0x${iova.toString(16)}+0x${data.length.toString(16)} is not fully mapped`);
  }
}

/** iopt_area_add_access: pin pages [first, last] for an access span (shared by identical spans). */
function addAccess(area: IoptArea, first: number, last: number, flags: number, lock: boolean): void {
  const pages = area.pages!;
  if (flags & IOMMUFD_ACCESS_RW_WRITE && !pages.writable) throw new ErrnoError('EPERM', 'ioctl', 'pages are read-only');
  if (pages.isDmabuf) throw new ErrnoError('EINVAL', 'ioctl', 'a dma-buf cannot be pinned by an access');
  const span = pages.accessSpans.find((s) => s.start === first && s.last === last);
  if (span) {
    span.users++;
  } else {
    // The iopt_pages_access node, then iopt_pages_fill_xarray.
    pages.source.host.faults.check('iopt_area_add_access');
    pages.hold(first, last, 'access');
    pages.accessSpans.push({ start: first, last, users: 1 });
  }
  area.numAccesses++;
  if (lock) area.numLocks++;
}

/** iopt_area_remove_access */
function removeAccess(area: IoptArea, first: number, last: number, unlock: boolean): void {
  const pages = area.pages;
  if (!pages) return;
  const i = pages.accessSpans.findIndex((s) => s.start === first && s.last === last);
  if (i < 0) return;
  if (unlock) area.numLocks--;
  area.numAccesses--;
  const span = pages.accessSpans[i]!;
  if (--span.users > 0) return;
  pages.accessSpans.splice(i, 1);
  pages.release(first, last);
}

/** iopt_pages_rw_access: through pinned frames when held, else through the source process's memory. */
function pagesRw(area: IoptArea, startByte: number, data: Uint8Array, flags: number): void {
  const pages = area.pages!;
  const write = (flags & IOMMUFD_ACCESS_RW_WRITE) !== 0;
  if (write && !pages.writable) throw new ErrnoError('EPERM', 'ioctl', 'pages are read-only');
  if (pages.isDmabuf) throw new ErrnoError('EINVAL', 'ioctl', 'dma-buf pages cannot be read by an access');
  // Files and (forced here by the selftest's flag) other mms go through a pfn reader or one pinned page.
  const startIndex = Math.floor(startByte / PAGE_SIZE);
  const lastIndex = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
  if (pages.src.kind !== 'user') {
    pages.readSlow(startIndex, lastIndex);
  } else if (!(flags & IOMMUFD_ACCESS_RW_KTHREAD) && flags & IOMMUFD_ACCESS_RW_SLOW_PATH) {
    if (startIndex !== lastIndex) pages.readSlow(startIndex, lastIndex);
    else if (iommufdShouldFail(pages.source.host.faults, 'iopt_pages_rw_page')) throw new ErrnoError('EINVAL', 'ioctl', 'iopt_pages_rw_page (fail-nth)');
  }
  const mem = pages.source.host.mem;
  const src = pages.src;
  let done = 0;
  while (done < data.length) {
    const byte = startByte + done;
    const index = Math.floor(byte / PAGE_SIZE);
    const off = byte % PAGE_SIZE;
    const n = Math.min(data.length - done, PAGE_SIZE - off);
    let pfn = pages.pfns[index]!;
    const chunk = data.subarray(done, done + n);
    if (pfn === 0 && src.kind === 'user') {
      const va = BigInt(src.uptr) + BigInt(byte);
      if (write) pages.source.memWrite(va, chunk);
      else chunk.set(pages.source.memRead(va, n));
    } else {
      if (pfn === 0 && src.kind === 'file') pfn = src.obj.populate(src.start / PAGE_SIZE + index);
      if (write) mem.write(pfn * PAGE_SIZE + off, chunk);
      else mem.readInto(pfn * PAGE_SIZE + off, chunk);
    }
    done += n;
  }
}

/** iommufd_access_create: published at once; the creator holds a reference until destroy. */
export function accessCreate(ctx: IommufdCtx, ops: IommufdAccessOps): IommufdAccess {
  const access = new IommufdAccess(ctx, ops);
  ctx.allocId(access);
  access.get();
  ctx.file?.get();
  ctx.finalize(access);
  return access;
}

/** iommufd_access_destroy */
export function accessDestroy(access: IommufdAccess): void {
  access.ctx.destroyUser(access);
}


/** iommufd_access_create_internal: for iommufd's own users (HW queues); holds no file reference. */
export function accessCreateInternal(ctx: IommufdCtx): IommufdAccess {
  const access = new IommufdAccess(ctx, null);
  ctx.allocId(access);
  access.get();
  ctx.finalize(access);
  return access;
}
