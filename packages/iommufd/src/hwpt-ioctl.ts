// IOMMU_HWPT_ALLOC, IOMMU_HWPT_INVALIDATE and the dirty-tracking ioctls (hw_pagetable.c).
import {
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
  IOMMU_NO_PASID,
  type iommu_hwpt_alloc,
  type iommu_hwpt_get_dirty_bitmap,
  type iommu_hwpt_invalidate,
  type iommu_hwpt_set_dirty_tracking,
  type IommuUserData,
  type IommuUserDataArray,
  type IommuViommu,
} from '@iommu-lab/iommu-core';
import { ErrnoError, PAGE_SIZE, type StructType } from '@iommu-lab/platform';
import { getDevice } from './device.js';
import { readAndClearDirty, setDirtyTracking } from './dirty.js';
import { type HwptFault, hwptNestedAlloc, hwptNestedAllocOnViommu, hwptPagingAlloc, type IommufdHwpt, IommufdHwptPaging } from './hw-pagetable.js';
import type { IommufdIoas } from './ioas.js';
import type { IommufdObject } from './object.js';
import type { Ucmd } from './ucmd.js';

/** What HWPT_ALLOC and HWPT_INVALIDATE need from a vIOMMU object. */
export interface ViommuObject extends IommufdObject {
  readonly viommu: IommuViommu;
  readonly hwpt: IommufdHwptPaging;
}

/** What HWPT_ALLOC needs from a fault object. */
export interface FaultObject extends IommufdObject {
  readonly fault: HwptFault;
}

/** IOMMU_HWPT_INVALIDATE_ENTRY_NUM_MAX */
const INVALIDATE_ENTRY_NUM_MAX = 1 << 19;

export function ioctlHwptAlloc(ucmd: Ucmd<StructType<typeof iommu_hwpt_alloc>>): void {
  const cmd = ucmd.cmd;
  const ctx = ucmd.ctx;
  const userData: IommuUserData = { type: cmd.data_type, uptr: cmd.data_uptr, len: cmd.data_len, proc: ucmd.proc };
  if (cmd.__reserved) throw new ErrnoError('EOPNOTSUPP', 'ioctl', '__reserved');
  if ((cmd.data_type === IOMMU_HWPT_DATA_NONE && cmd.data_len) || (cmd.data_type !== IOMMU_HWPT_DATA_NONE && !cmd.data_len)) {
    throw new ErrnoError('EINVAL', 'ioctl', 'data_type and data_len disagree');
  }
  const idev = getDevice(ctx, cmd.dev_id);
  let pt: IommufdObject;
  try {
    pt = ctx.getObject(cmd.pt_id);
  } catch {
    throw new ErrnoError('EINVAL', 'ioctl', `pt_id ${cmd.pt_id} is not an object`);
  }
  let hwpt: IommufdHwpt;
  if (pt.type === 'IOAS') {
    hwpt = hwptPagingAlloc(ctx, pt as IommufdIoas, idev, IOMMU_NO_PASID, cmd.flags, false, userData.len ? userData : null);
  } else if (pt.type === 'HWPT_PAGING') {
    hwpt = hwptNestedAlloc(ctx, pt as IommufdHwptPaging, idev, cmd.flags, userData);
  } else if (pt.type === 'VIOMMU') {
    const v = pt as ViommuObject;
    if (v.viommu.unit !== idev.dev.unit) throw new ErrnoError('EINVAL', 'ioctl', 'vIOMMU belongs to another IOMMU');
    hwpt = hwptNestedAllocOnViommu(ctx, v, v.viommu, v.hwpt, idev, cmd.flags, userData);
  } else {
    throw new ErrnoError('EINVAL', 'ioctl', `pt_id ${cmd.pt_id} is a ${pt.type}`);
  }
  ucmd.newObj = hwpt;
  if (cmd.flags & IOMMU_HWPT_FAULT_ID_VALID) {
    const f = ctx.getObject<FaultObject>(cmd.fault_id, 'FAULT');
    hwpt.fault = f.fault;
    hwpt.domain.iopfHandler = f.fault.handler(hwpt.domain);
    f.get();
  }
  cmd.out_hwpt_id = hwpt.id;
  ucmd.respond();
}

export function ioctlHwptInvalidate(ucmd: Ucmd<StructType<typeof iommu_hwpt_invalidate>>): void {
  const cmd = ucmd.cmd;
  const array: IommuUserDataArray = { type: cmd.data_type, uptr: cmd.data_uptr, entry_len: cmd.entry_len, entry_num: cmd.entry_num, proc: ucmd.proc };
  let done = 0;
  let err: unknown = null;
  try {
    if (cmd.__reserved) throw new ErrnoError('EOPNOTSUPP', 'ioctl', '__reserved');
    if (cmd.entry_num && (!cmd.data_uptr || !cmd.entry_len || cmd.entry_len > PAGE_SIZE || cmd.entry_num > INVALIDATE_ENTRY_NUM_MAX)) {
      throw new ErrnoError('EINVAL', 'ioctl', 'data_uptr, entry_len or entry_num');
    }
    const pt = ucmd.ctx.getObject(cmd.hwpt_id);
    let hook: (a: IommuUserDataArray) => void;
    if (pt.type === 'HWPT_NESTED') {
      const domain = (pt as IommufdHwpt).domain;
      if (!domain.cacheInvalidateUser) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'domain has no cache_invalidate_user');
      hook = (a) => domain.cacheInvalidateUser!(a);
    } else if (pt.type === 'VIOMMU') {
      const v = (pt as ViommuObject).viommu;
      if (!v.cacheInvalidate) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'vIOMMU has no cache_invalidate');
      hook = (a) => v.cacheInvalidate!(a);
    } else {
      throw new ErrnoError('EINVAL', 'ioctl', `object ${cmd.hwpt_id} is a ${pt.type}`);
    }
    try {
      hook(array);
    } finally {
      done = array.entry_num;
    }
  } catch (e) {
    err = e;
  }
  cmd.entry_num = done;
  try {
    ucmd.respond();
  } catch {
    throw new ErrnoError('EFAULT', 'ioctl', 'cannot write entry_num back');
  }
  if (err) throw err;
}

function getHwptPaging(ucmd: Ucmd<never>, id: number): IommufdHwptPaging {
  return ucmd.ctx.getObject<IommufdHwptPaging>(id, 'HWPT_PAGING');
}

export function ioctlHwptSetDirtyTracking(ucmd: Ucmd<StructType<typeof iommu_hwpt_set_dirty_tracking>>): void {
  const cmd = ucmd.cmd;
  if (cmd.flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags');
  const hwpt = getHwptPaging(ucmd as Ucmd<never>, cmd.hwpt_id);
  setDirtyTracking(hwpt.ioas.iopt, hwpt.domain, (cmd.flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE) !== 0);
}

export function ioctlHwptGetDirtyBitmap(ucmd: Ucmd<StructType<typeof iommu_hwpt_get_dirty_bitmap>>): void {
  const cmd = ucmd.cmd;
  if (cmd.flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR || cmd.__reserved) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags or __reserved');
  const hwpt = getHwptPaging(ucmd as Ucmd<never>, cmd.hwpt_id);
  readAndClearDirty(
    hwpt.ioas.iopt,
    hwpt.domain,
    { iova: cmd.iova, length: cmd.length, pageSize: cmd.page_size, data: cmd.data, noClear: (cmd.flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0 },
    ucmd.proc,
  );
}
