// /dev/iommu file operations: open, the ioctl dispatcher, mmap of vIOMMU regions, release (main.c).
import {
  IOMMU_DESTROY,
  iommu_destroy,
  IOMMU_FAULT_QUEUE_ALLOC,
  iommu_fault_alloc,
  IOMMU_HW_QUEUE_ALLOC,
  iommu_hw_queue_alloc,
  IOMMU_VDEVICE_ALLOC,
  iommu_vdevice_alloc,
  IOMMU_VEVENTQ_ALLOC,
  iommu_veventq_alloc,
  IOMMU_VIOMMU_ALLOC,
  iommu_viommu_alloc,
  IOMMU_GET_HW_INFO,
  iommu_hw_info,
  IOMMU_HWPT_ALLOC,
  iommu_hwpt_alloc,
  IOMMU_HWPT_GET_DIRTY_BITMAP,
  iommu_hwpt_get_dirty_bitmap,
  IOMMU_HWPT_INVALIDATE,
  iommu_hwpt_invalidate,
  IOMMU_HWPT_SET_DIRTY_TRACKING,
  iommu_hwpt_set_dirty_tracking,
  IOMMU_IOAS_ALLOC,
  iommu_ioas_alloc,
  IOMMU_IOAS_ALLOW_IOVAS,
  iommu_ioas_allow_iovas,
  IOMMU_IOAS_CHANGE_PROCESS,
  iommu_ioas_change_process,
  IOMMU_IOAS_COPY,
  iommu_ioas_copy,
  IOMMU_IOAS_IOVA_RANGES,
  iommu_ioas_iova_ranges,
  IOMMU_IOAS_MAP,
  iommu_ioas_map,
  IOMMU_IOAS_MAP_FILE,
  iommu_ioas_map_file,
  IOMMU_IOAS_NOIOMMU_GET_PA,
  iommu_ioas_noiommu_get_pa,
  IOMMU_IOAS_UNMAP,
  iommu_ioas_unmap,
  IOMMU_OPTION,
  iommu_option,
  IOMMU_VFIO_IOAS,
  iommu_vfio_ioas,
  IOMMUFD_CMD_BASE,
  registerIommufdKernelApi,
} from '@iommu-lab/iommu-core';
import { copyStructFromUser, ErrnoError, type FileOps, type Host, type IoctlArg, OpenFile, type Process, userArg } from '@iommu-lab/platform';
import { ioctlIoasChangeProcess } from './change-process.js';
import { iommufdKernelApiFor } from './kernel-api.js';
import { ioctlFaultQueueAlloc } from './fault.js';
import { ioctlHwQueueAlloc } from './hw-queue.js';
import { ioctlVdeviceAlloc } from './vdevice.js';
import { ioctlVeventqAlloc } from './veventq.js';
import { ioctlViommuAlloc } from './viommu.js';
import { IommufdCtx } from './context.js';
import { ioctlGetHwInfo } from './hw-info.js';
import { ioctlHwptAlloc, ioctlHwptGetDirtyBitmap, ioctlHwptInvalidate, ioctlHwptSetDirtyTracking } from './hwpt-ioctl.js';
import { ioctlIoasAlloc, ioctlIoasAllowIovas, ioctlIoasCopy, ioctlIoasIovaRanges, ioctlIoasMap, ioctlIoasMapFile, ioctlIoasUnmap } from './ioas.js';
import { type IoctlOp, ioctlOp } from './ioctl-table.js';
import { mmapRegion } from './mmap.js';
import { ioctlOption } from './option.js';
import { Ucmd } from './ucmd.js';
import { ioctlVfioIoas, vfioCompatIoctl } from './vfio-compat.js';

const KEY = Symbol('iommufd');

/** Per-host iommufd state: the ioctls of the table, including ones other packages add. */
export class IommufdSubsystem {
  readonly ops = new Map<number, IoctlOp>();
  /** One past the highest command number in the table (ARRAY_SIZE of iommufd_ioctl_ops). */
  tableEnd = 0;

  constructor(readonly host: Host) {
    const ops = [
      ioctlOp(IOMMU_DESTROY, iommu_destroy, 'id', (u) => void u.ctx.remove(u.cmd.id)),
      ioctlOp(IOMMU_FAULT_QUEUE_ALLOC, iommu_fault_alloc, 'out_fault_fd', ioctlFaultQueueAlloc),
      ioctlOp(IOMMU_GET_HW_INFO, iommu_hw_info, '__reserved', ioctlGetHwInfo),
      ioctlOp(IOMMU_HW_QUEUE_ALLOC, iommu_hw_queue_alloc, 'length', ioctlHwQueueAlloc),
      ioctlOp(IOMMU_HWPT_ALLOC, iommu_hwpt_alloc, '__reserved', ioctlHwptAlloc),
      ioctlOp(IOMMU_HWPT_GET_DIRTY_BITMAP, iommu_hwpt_get_dirty_bitmap, 'data', ioctlHwptGetDirtyBitmap),
      ioctlOp(IOMMU_HWPT_INVALIDATE, iommu_hwpt_invalidate, '__reserved', ioctlHwptInvalidate),
      ioctlOp(IOMMU_HWPT_SET_DIRTY_TRACKING, iommu_hwpt_set_dirty_tracking, '__reserved', ioctlHwptSetDirtyTracking),
      ioctlOp(IOMMU_IOAS_ALLOC, iommu_ioas_alloc, 'out_ioas_id', ioctlIoasAlloc),
      ioctlOp(IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas, 'allowed_iovas', ioctlIoasAllowIovas),
      ioctlOp(IOMMU_IOAS_CHANGE_PROCESS, iommu_ioas_change_process, '__reserved', ioctlIoasChangeProcess),
      ioctlOp(IOMMU_IOAS_COPY, iommu_ioas_copy, 'src_iova', ioctlIoasCopy),
      ioctlOp(IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges, 'out_iova_alignment', ioctlIoasIovaRanges),
      ioctlOp(IOMMU_IOAS_MAP, iommu_ioas_map, 'iova', ioctlIoasMap),
      ioctlOp(IOMMU_IOAS_MAP_FILE, iommu_ioas_map_file, 'iova', ioctlIoasMapFile),
      // Without CONFIG_IOMMUFD_NOIOMMU the command exists and answers EOPNOTSUPP.
      ioctlOp(IOMMU_IOAS_NOIOMMU_GET_PA, iommu_ioas_noiommu_get_pa, 'out_phys', () => {
        throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'no-IOMMU mode is not configured');
      }),
      ioctlOp(IOMMU_IOAS_UNMAP, iommu_ioas_unmap, 'length', ioctlIoasUnmap),
      ioctlOp(IOMMU_OPTION, iommu_option, 'val64', ioctlOption),
      ioctlOp(IOMMU_VDEVICE_ALLOC, iommu_vdevice_alloc, 'virt_id', ioctlVdeviceAlloc),
      ioctlOp(IOMMU_VEVENTQ_ALLOC, iommu_veventq_alloc, 'out_veventq_fd', ioctlVeventqAlloc),
      ioctlOp(IOMMU_VFIO_IOAS, iommu_vfio_ioas, '__reserved', ioctlVfioIoas),
      ioctlOp(IOMMU_VIOMMU_ALLOC, iommu_viommu_alloc, 'out_viommu_id', ioctlViommuAlloc),
    ];
    for (const op of ops) this.add(op);
  }

  /** Adds an ioctl to the table (later issues and the selftest's IOMMU_TEST_CMD use this). */
  add(op: IoctlOp): void {
    this.ops.set(op.num & 0xff, op);
    this.tableEnd = Math.max(this.tableEnd, (op.num & 0xff) + 1);
  }
}

/** The iommufd subsystem of a host, created on first use. */
export function iommufdSubsystem(host: Host): IommufdSubsystem {
  let s = host.ext.get(KEY) as IommufdSubsystem | undefined;
  if (!s) host.ext.set(KEY, (s = new IommufdSubsystem(host)));
  return s;
}

/** iommufd_fops_ioctl */
function dispatch(sub: IommufdSubsystem, ctx: IommufdCtx, proc: Process, request: number, arg: IoctlArg): number {
  const nr = request & 0xff;
  if (nr < IOMMUFD_CMD_BASE || nr >= sub.tableEnd) return vfioCompatIoctl(ctx, proc, request, arg);
  const op = sub.ops.get(nr);
  const typed = typeof arg === 'object' && arg !== null && !(arg instanceof Uint8Array);
  if (typed && (!op || op.num !== request)) throw new ErrnoError('ENOTTY', 'ioctl', `request 0x${request.toString(16)}`);
  const user = userArg(arg, proc, op?.codec, 'size');
  const size = user.readU32(0);
  if (!op || op.num !== request) throw new ErrnoError('ENOTTY', 'ioctl', `request 0x${request.toString(16)}`);
  if (size < op.minSize) throw new ErrnoError('EINVAL', 'ioctl', `${op.codec.name}: size ${size} < ${op.minSize}`);
  const cmd = op.decode(copyStructFromUser(user, op.codec.size, size));
  const ucmd = new Ucmd(ctx, proc, user, size, op.codec, cmd);
  let ret: unknown;
  try {
    ret = op.execute(ucmd as Ucmd<never>);
  } catch (e) {
    if (ucmd.newObj) ctx.abortAndDestroy(ucmd.newObj);
    throw e;
  }
  if (ucmd.newObj) ctx.finalize(ucmd.newObj);
  return typeof ret === 'number' ? ret : 0;
}

export const iommufdFops: FileOps = {
  name: 'iommufd',
  ioctl(file, request, arg, proc) {
    const ctx = file.priv as IommufdCtx;
    return dispatch(iommufdSubsystem(ctx.host), ctx, proc, request, arg);
  },
  mmap(file, req) {
    return mmapRegion(file.priv as IommufdCtx, req);
  },
  release(file) {
    (file.priv as IommufdCtx).release();
  },
};

/** The context behind an iommufd file, or EBADFD for any other file (iommufd_ctx_from_file). */
export function iommufdCtxFromFile(file: OpenFile): IommufdCtx {
  if (file.ops !== iommufdFops) throw new ErrnoError('EBADFD', 'ioctl', `${file.path} is not an iommufd`);
  return file.priv as IommufdCtx;
}

/** Registers /dev/iommu on the host. */
export function installIommufd(host: Host): IommufdSubsystem {
  const sub = iommufdSubsystem(host);
  registerIommufdKernelApi(host, iommufdKernelApiFor(iommufdCtxFromFile));
  host.vfs.register('/dev/iommu', (_proc, flags) => {
    host.faults.check('iommufd_fops_open');
    const ctx = new IommufdCtx(host);
    const file = new OpenFile(iommufdFops, ctx, '/dev/iommu', flags);
    ctx.file = file;
    return file;
  });
  return sub;
}
