// Dirty tracking of paging HWPTs: enable/disable and the user bitmap of IOPTE dirty bits (io_pagetable.c, iova_bitmap.c).
import type { IommuDomain } from '@iommu-lab/iommu-core';
import { ErrnoError, type Process } from '@iommu-lab/platform';
import type { IoPagetable } from './iopt/iopt.js';
import { ULONG_MAX } from './iopt/ranges.js';

/** iopt_set_dirty_tracking: enabling first clears stale dirty bits of every mapped area. */
export function setDirtyTracking(iopt: IoPagetable, domain: IommuDomain, enable: boolean): void {
  const ops = domain.dirtyOps;
  if (!ops) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'domain has no dirty tracking');
  if (enable) {
    for (const a of iopt.areas) if (a.pages) ops.readAndClearDirty(Number(a.iova), Number(a.length), false, () => {});
  }
  ops.setDirtyTracking(enable);
}

export interface DirtyBitmapReq {
  iova: bigint;
  length: bigint;
  pageSize: bigint;
  /** User address of the bitmap: bit n covers iova + n * pageSize. */
  data: bigint;
  noClear: boolean;
}

/** iommufd_check_iova_range */
export function checkDirtyRange(iopt: IoPagetable, r: DirtyBitmapReq): void {
  const align = BigInt(iopt.iovaAlignment);
  if (r.length === 0n) throw new ErrnoError('EINVAL', 'ioctl', 'length is 0');
  const last = r.iova + r.length - 1n;
  if (last > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'iova + length overflows');
  if (r.iova % align !== 0n || (last + 1n) % align !== 0n) throw new ErrnoError('EINVAL', 'ioctl', `range not aligned to ${align}`);
  if (r.pageSize === 0n) throw new ErrnoError('EINVAL', 'ioctl', 'page_size is 0');
  if (r.iova % r.pageSize !== 0n || (last + 1n) % r.pageSize !== 0n) throw new ErrnoError('EINVAL', 'ioctl', 'range not aligned to page_size');
}

/**
 * iopt_read_and_clear_dirty_data: for the mapped areas from iova on, the domain reports its dirty
 * IOPTEs and the matching bits are set in the user's bitmap (at any byte alignment). Like the
 * kernel, a hole in the range ends the walk without an error.
 */
export function readAndClearDirty(iopt: IoPagetable, domain: IommuDomain, r: DirtyBitmapReq, proc: Process): void {
  checkDirtyRange(iopt, r);
  const ops = domain.dirtyOps;
  if (!ops) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'domain has no dirty tracking');
  const last = r.iova + r.length - 1n;
  const nbits = r.length / r.pageSize;
  const bytes = Number((nbits + 7n) / 8n);
  const bitmap = proc.memRead(r.data, bytes);
  const { areas } = iopt.contig(r.iova, last);
  let cur = r.iova;
  for (const a of areas) {
    const end = a.last < last ? a.last : last;
    ops.readAndClearDirty(Number(cur), Number(end - cur + 1n), r.noClear, (iova, len) => {
      const first = (BigInt(iova) < r.iova ? r.iova : BigInt(iova)) - r.iova;
      const stop = BigInt(iova + len) - 1n > last ? last - r.iova : BigInt(iova + len) - 1n - r.iova;
      for (let bit = first / r.pageSize; bit <= stop / r.pageSize; bit++) {
        const n = Number(bit);
        bitmap[n >> 3] = bitmap[n >> 3]! | (1 << (n & 7));
      }
    });
    cur = end + 1n;
  }
  proc.memWrite(r.data, bitmap);
}
