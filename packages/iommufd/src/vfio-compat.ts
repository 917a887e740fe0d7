// The VFIO type1 container ioctls on an iommufd (drivers/iommu/iommufd/vfio_compat.c).
import {
  IOMMU_CACHE,
  IOMMU_READ,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  IOMMU_WRITE,
  type iommu_vfio_ioas,
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_DMA_CC_IOMMU,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_dma_avail,
  VFIO_IOMMU_UNMAP_DMA,
  vfio_iova_range,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '@iommu-lab/iommu-core';
import { ErrnoError, type IoctlArg, intArg, PAGE_SIZE, type Process, type StructType, userArg, type UserArg } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import type { IommufdHwptPaging } from './hw-pagetable.js';
import { allocUserPages, getIoas, type IommufdIoas, mapCommon } from './ioas.js';
import { holes, ULONG_MAX } from './iopt/ranges.js';
import type { Ucmd } from './ucmd.js';

/** get_compat_ioas: the IOAS set with IOMMU_VFIO_IOAS, else ENODEV. */
function compatIoas(ctx: IommufdCtx): IommufdIoas {
  const ioas = ctx.vfioIoas;
  if (!ioas) throw new ErrnoError('ENODEV', 'ioctl', 'no compat IOAS (IOMMU_VFIO_IOAS)');
  return ioas as IommufdIoas;
}

export function ioctlVfioIoas(ucmd: Ucmd<StructType<typeof iommu_vfio_ioas>>): void {
  const cmd = ucmd.cmd;
  if (cmd.__reserved) throw new ErrnoError('EOPNOTSUPP', 'ioctl', '__reserved');
  switch (cmd.op) {
    case IOMMU_VFIO_IOAS_GET:
      cmd.ioas_id = compatIoas(ucmd.ctx).id;
      ucmd.respond();
      return;
    case IOMMU_VFIO_IOAS_SET:
      ucmd.ctx.vfioIoas = getIoas(ucmd.ctx, cmd.ioas_id);
      return;
    case IOMMU_VFIO_IOAS_CLEAR:
      ucmd.ctx.vfioIoas = null;
      return;
    default:
      throw new ErrnoError('EOPNOTSUPP', 'ioctl', `IOMMU_VFIO_IOAS op ${cmd.op}`);
  }
}

function checkExtension(ctx: IommufdCtx, type: number): number {
  switch (type) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_UNMAP_ALL:
      return 1;
    case VFIO_DMA_CC_IOMMU: {
      const ioas = compatIoas(ctx);
      return (ioas.hwpts as IommufdHwptPaging[]).every((h) => h.enforceCacheCoherency) ? 1 : 0;
    }
    default:
      return 0;
  }
}

function setIommu(ctx: IommufdCtx, type: number): number {
  if (type !== VFIO_TYPE1_IOMMU && type !== VFIO_TYPE1v2_IOMMU) throw new ErrnoError('EINVAL', 'ioctl', `VFIO_SET_IOMMU type ${type}`);
  const ioas = compatIoas(ctx);
  // TYPE1 may unmap inside a mapping: emulated by never using large IOPTEs.
  if (type === VFIO_TYPE1_IOMMU) ioas.iopt.disableLarge();
  return 0;
}

function mapDma(ctx: IommufdCtx, proc: Process, u: UserArg): number {
  const minsz = 32;
  const map = vfio_iommu_type1_dma_map.decode(u.read(0, minsz));
  if (map.argsz < minsz || map.flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) throw new ErrnoError('EINVAL', 'ioctl', 'argsz or flags');
  const prot = IOMMU_CACHE | (map.flags & VFIO_DMA_MAP_FLAG_READ ? IOMMU_READ : 0) | (map.flags & VFIO_DMA_MAP_FLAG_WRITE ? IOMMU_WRITE : 0);
  const ioas = compatIoas(ctx);
  const made = allocUserPages(ctx, proc, map.vaddr, map.size, (prot & IOMMU_WRITE) !== 0);
  mapCommon(ioas, { ...made, length: map.size }, map.iova, false, prot, map.vaddr);
  return 0;
}

function unmapDma(ctx: IommufdCtx, u: UserArg): number {
  const minsz = 24;
  const unmap = vfio_iommu_type1_dma_unmap.decode(u.read(0, minsz));
  if (unmap.argsz < minsz || unmap.flags & ~VFIO_DMA_UNMAP_FLAG_ALL) throw new ErrnoError('EINVAL', 'ioctl', 'argsz or flags');
  const ioas = compatIoas(ctx);
  let unmapped = 0n;
  let err: unknown = null;
  if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
    if (unmap.iova !== 0n || unmap.size !== 0n) throw new ErrnoError('EINVAL', 'ioctl', 'UNMAP_ALL with an iova or size');
    try {
      unmapped = ioas.iopt.unmapRange(0n, ULONG_MAX);
    } catch (e) {
      err = e;
    }
  } else {
    if (ioas.iopt.disableLargePages) {
      const cuts = [unmap.iova + unmap.size - 1n];
      if (unmap.iova) cuts.push(unmap.iova - 1n);
      ioas.iopt.cut(cuts);
    }
    try {
      if (unmap.size === 0n) throw new ErrnoError('EINVAL', 'ioctl', 'size is 0');
      const last = unmap.iova + unmap.size - 1n;
      if (last > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'iova + size overflows');
      unmapped = ioas.iopt.unmapRange(unmap.iova, last);
    } catch (e) {
      err = e;
    }
  }
  // The unmapped length goes back to user space also when the unmap failed.
  unmap.size = unmapped;
  u.write(0, vfio_iommu_type1_dma_unmap.encode(unmap).subarray(0, minsz));
  if (err) throw err;
  return 0;
}

/** iommufd_get_pagesizes: the page sizes every domain takes, at least PAGE_SIZE and the IOAS alignment. */
function pagesizes(ioas: IommufdIoas): bigint {
  let bitmap = (1n << 64n) - 1n;
  for (const d of ioas.iopt.domains) bitmap &= d.pgsizes.reduce((b, s) => b | BigInt(s), 0n);
  const pageMask = ~BigInt(PAGE_SIZE - 1) & ((1n << 64n) - 1n);
  if (bitmap & ~pageMask) bitmap = (bitmap & pageMask) | BigInt(PAGE_SIZE);
  const align = BigInt(ioas.iopt.iovaAlignment);
  return bitmap > align ? bitmap : align;
}

function getInfo(ctx: IommufdCtx, u: UserArg): number {
  const minsz = 16;
  const head = vfio_iommu_type1_info.decode(u.read(0, minsz));
  if (head.argsz < minsz) throw new ErrnoError('EINVAL', 'ioctl', 'argsz');
  const copySize = Math.min(head.argsz, vfio_iommu_type1_info.size);
  const ioas = compatIoas(ctx);
  const info = { ...head, flags: VFIO_IOMMU_INFO_PGSIZES, iova_pgsizes: pagesizes(ioas), cap_offset: 0 };
  const ranges = holes(ioas.iopt.reserved, 0n, ULONG_MAX);
  const caps: Uint8Array[] = [];
  const avail = vfio_iommu_type1_info_dma_avail.encode({ header: { id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: 1 }, avail: 0xffffffff });
  caps.push(avail);
  const iovaCap = new Uint8Array(16 + 16 * ranges.length);
  vfio_iommu_type1_info_cap_iova_range.encode({ header: { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: 1 }, nr_iovas: ranges.length }, iovaCap);
  ranges.forEach((r, i) => vfio_iova_range.encode({ start: r.start, end: r.last }, iovaCap, 16 + 16 * i));
  caps.push(iovaCap);
  let total = vfio_iommu_type1_info.size;
  let lastCapAt = -1;
  for (const cap of caps) {
    const room = head.argsz > total ? head.argsz - total : 0;
    const size = Math.ceil(cap.length / 8) * 8;
    if (cap === iovaCap) {
      // Ranges are copied one by one while they fit, then the header when the whole cap fits.
      for (let i = 0; i < ranges.length; i++) if (room >= 16 + 16 * (i + 1)) u.write(total + 16 + 16 * i, cap.subarray(16 + 16 * i, 32 + 16 * i));
      if (room >= cap.length) u.write(total, cap.subarray(0, 16));
    } else if (room >= cap.length) {
      u.write(total, cap);
    }
    if (lastCapAt >= 0 && head.argsz >= total) u.write(lastCapAt + 4, Uint8Array.of(total & 0xff, (total >> 8) & 0xff, (total >> 16) & 0xff, total >>> 24));
    lastCapAt = total;
    total += size;
  }
  if (head.argsz >= total) info.cap_offset = vfio_iommu_type1_info.size;
  info.argsz = total;
  info.flags |= VFIO_IOMMU_INFO_CAPS;
  u.write(0, vfio_iommu_type1_info.encode(info).subarray(0, copySize));
  return 0;
}

/** iommufd_vfio_ioctl: the ioctls below IOMMUFD_CMD_BASE; anything else is ENOTTY. */
export function vfioCompatIoctl(ctx: IommufdCtx, proc: Process, request: number, arg: IoctlArg): number {
  switch (request) {
    case VFIO_GET_API_VERSION:
      return VFIO_API_VERSION;
    case VFIO_SET_IOMMU:
      return setIommu(ctx, intArg(arg));
    case VFIO_CHECK_EXTENSION:
      return checkExtension(ctx, intArg(arg));
    case VFIO_IOMMU_GET_INFO:
      return getInfo(ctx, userArg(arg, proc, vfio_iommu_type1_info, 'argsz'));
    case VFIO_IOMMU_MAP_DMA:
      return mapDma(ctx, proc, userArg(arg, proc, vfio_iommu_type1_dma_map, 'argsz'));
    case VFIO_IOMMU_UNMAP_DMA:
      return unmapDma(ctx, userArg(arg, proc, vfio_iommu_type1_dma_unmap, 'argsz'));
    default:
      throw new ErrnoError('ENOTTY', 'ioctl', `request 0x${request.toString(16)} is not an iommufd ioctl`);
  }
}
