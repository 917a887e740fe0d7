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

/** The lowest set bit of x as a shift (__ffs); x is non-zero. */
function ffs(x: bigint): bigint {
  let n = 0n;
  while (((x >> n) & 1n) === 0n) n++;
  return n;
}

/** iommufd_check_iova_range: alignment is checked with masks, as the kernel does. */
export function checkDirtyRange(iopt: IoPagetable, r: DirtyBitmapReq): void {
  const pgmask = BigInt(iopt.iovaAlignment) - 1n;
  if (r.length === 0n) throw new ErrnoError('EINVAL', 'ioctl', 'length is 0');
  const last = r.iova + r.length - 1n;
  if (last > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'iova + length overflows');
  if (r.iova & pgmask || (last + 1n) & pgmask) throw new ErrnoError('EINVAL', 'ioctl', `range not aligned to ${pgmask + 1n}`);
  if (r.pageSize === 0n) throw new ErrnoError('EINVAL', 'ioctl', 'page_size is 0');
  if (r.iova & (r.pageSize - 1n) || (last + 1n) & (r.pageSize - 1n)) throw new ErrnoError('EINVAL', 'ioctl', 'range not aligned to page_size');
}

/**
 * iopt_read_and_clear_dirty_data: for the contiguous mapped areas from iova on, the domain reports
 * its dirty IOPTEs and the matching bits are set in the user's bitmap (at any byte alignment; one
 * bit per 1 << __ffs(page_size) bytes, as iova_bitmap does). A hole in the range is EINVAL, after
 * the bits of the areas before it were set.
 */
export function readAndClearDirty(iopt: IoPagetable, domain: IommuDomain, r: DirtyBitmapReq, proc: Process): void {
  checkDirtyRange(iopt, r);
  const ops = domain.dirtyOps;
  if (!ops) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'domain has no dirty tracking');
  const last = r.iova + r.length - 1n;
  const pgshift = ffs(r.pageSize);
  const nbits = ((last - r.iova) >> pgshift) + 1n;
  const bytes = Number((nbits + 7n) / 8n);
  const bitmap = proc.memRead(r.data, bytes);
  const { areas, done } = iopt.contig(r.iova, last);
  let cur = r.iova;
  for (const a of areas) {
    const end = a.last < last ? a.last : last;
    ops.readAndClearDirty(Number(cur), Number(end - cur + 1n), r.noClear, (iova, len) => {
      const first = BigInt(iova) < r.iova ? r.iova : BigInt(iova);
      const stop = BigInt(iova + len) - 1n > last ? last : BigInt(iova + len) - 1n;
      if (stop < first) return;
      for (let bit = (first - r.iova) >> pgshift; bit <= (stop - r.iova) >> pgshift; bit++) {
        const n = Number(bit);
        bitmap[n >> 3] = bitmap[n >> 3]! | (1 << (n & 7));
      }
    });
    cur = end + 1n;
  }
  proc.memWrite(r.data, bitmap);
  if (!done) throw new ErrnoError('EINVAL', 'ioctl', `0x${cur.toString(16)} is not mapped`);
}
