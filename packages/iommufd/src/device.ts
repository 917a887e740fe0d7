// struct iommufd_device: a device bound to a context, and its attach/replace/detach (device.c).
import {
  type IommuDevice,
  iommuAttachDevicePasid,
  iommuAttachGroupHandle,
  iommuDetachDevicePasid,
  iommuDetachGroupHandle,
  iommuDeviceClaimDmaOwner,
  iommuDeviceReleaseDmaOwner,
  IOMMU_NO_PASID,
  iommuReplaceDevicePasid,
  iommuReplaceGroupHandle,
  type IommuAttachHandle,
} from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import { getGroup, type IommufdAttach, type IommufdGroup, putGroup } from './group.js';
import { findHwptPaging, hwptPagingAlloc, type IommufdHwpt, type IommufdHwptPaging } from './hw-pagetable.js';
import type { IommufdIoas } from './ioas.js';
import { IommufdObject } from './object.js';

/** The handle iommufd gives the core for each attachment (struct iommufd_attach_handle). */
export interface IommufdAttachHandle extends IommuAttachHandle {
  idev: IommufdDevice;
}

/** What a vDEVICE of the device provides when the device goes away. */
export interface DeviceVdev {
  readonly obj: IommufdObject;
}

export class IommufdDevice extends IommufdObject {
  readonly type = 'DEVICE';
  igroup: IommufdGroup | null = null;
  enforceCacheCoherency = false;
  /** The vDEVICE of this device, if any (idev->vdev). */
  vdev: DeviceVdev | null = null;
  /** Set once the device is on its way out: no new vDEVICE may refer to it. */
  destroying = false;

  constructor(
    readonly ctx: IommufdCtx,
    readonly dev: IommuDevice,
  ) {
    super();
  }

  /** iommufd_device_pre_destroy: a live vDEVICE is destroyed and leaves a tombstone. */
  override preDestroy(): void {
    this.destroying = true;
    const v = this.vdev;
    if (v) this.ctx.remove(v.obj.id, { tombstone: true, expect: v.obj });
  }

  destroy(): void {
    if (!this.igroup) return;
    iommuDeviceReleaseDmaOwner(this.dev);
    putGroup(this.igroup);
    this.igroup = null;
  }
}

/**
 * iommufd_device_bind: claims DMA ownership of the device's group for the context and returns
 * the published device object, held by the caller until unbind.
 */
export function deviceBind(ctx: IommufdCtx, dev: IommuDevice): IommufdDevice {
  const idev = new IommufdDevice(ctx, dev);
  ctx.allocId(idev);
  try {
    if (!(dev.unit.ops.capable?.(dev, 'CACHE_COHERENCY') ?? false)) throw new ErrnoError('EINVAL', 'ioctl', `${dev.name}: IOMMU cannot do cache-coherent DMA`);
    const igroup = getGroup(ctx, dev.group);
    try {
      iommuDeviceClaimDmaOwner(dev, ctx);
    } catch (e) {
      putGroup(igroup);
      throw e;
    }
    idev.igroup = igroup;
    idev.enforceCacheCoherency = dev.unit.ops.capable?.(dev, 'ENFORCE_CACHE_COHERENCY') ?? false;
  } catch (e) {
    ctx.abortAndDestroy(idev);
    throw e;
  }
  idev.get();
  ctx.finalize(idev);
  return idev;
}

/** iommufd_device_unbind */
export function deviceUnbind(idev: IommufdDevice): void {
  idev.ctx.destroyUser(idev);
}

function igroupOf(idev: IommufdDevice): IommufdGroup {
  if (!idev.igroup) throw new Error(`device ${idev.id} is not bound`);
  return idev.igroup;
}

/** iopt_table_enforce_dev_resv_regions: the device's reserved regions become reserved IOVA. */
function enforceResvRegions(ioas: IommufdIoas, idev: IommufdDevice): void {
  if (idev.ctx.shouldFail('iopt_table_enforce_dev_resv_regions')) throw new ErrnoError('EINVAL', 'ioctl', 'fail-nth in reserved regions');
  const regions = idev.dev.unit.ops.getResvRegions?.(idev.dev) ?? [];
  try {
    for (const r of regions) {
      if (r.type === 'direct-relaxable') continue;
      ioas.iopt.reserve(r.start, r.start + r.length - 1n, idev.dev);
    }
  } catch (e) {
    ioas.iopt.removeReserved(idev.dev);
    throw e;
  }
}

/** iommufd_hwpt_pasid_compat */
function pasidCompat(hwpt: IommufdHwpt, igroup: IommufdGroup, pasid: number): void {
  if (pasid === IOMMU_NO_PASID) {
    if (!hwpt.pasidCompat && [...igroup.pasidAttach.keys()].some((p) => p !== IOMMU_NO_PASID)) {
      throw new ErrnoError('EINVAL', 'ioctl', 'PASIDs are attached; the RID needs a PASID-compatible HWPT');
    }
  } else {
    if (!hwpt.pasidCompat) throw new ErrnoError('EINVAL', 'ioctl', 'HWPT was not allocated with IOMMU_HWPT_ALLOC_PASID');
    const rid = igroup.pasidAttach.get(IOMMU_NO_PASID);
    if (rid && !rid.hwpt.pasidCompat) throw new ErrnoError('EINVAL', 'ioctl', 'the RID is attached to a HWPT without PASID support');
  }
}

/** iommufd_hwpt_attach_device: the core attach of the group (RID) or of one PASID. */
function hwptAttachDevice(hwpt: IommufdHwpt, idev: IommufdDevice, pasid: number): void {
  pasidCompat(hwpt, igroupOf(idev), pasid);
  idev.ctx.faults.check('iommufd_hwpt_attach_device');
  const handle: IommufdAttachHandle = { domain: hwpt.domain, idev };
  if (pasid === IOMMU_NO_PASID) iommuAttachGroupHandle(hwpt.domain, igroupOf(idev).group, handle);
  else iommuAttachDevicePasid(hwpt.domain, idev.dev, pasid, handle);
}

function hwptDetachDevice(hwpt: IommufdHwpt, idev: IommufdDevice, pasid: number): void {
  const group = igroupOf(idev).group;
  const handle = group.pasids.get(pasid);
  if (pasid === IOMMU_NO_PASID) iommuDetachGroupHandle(group);
  else iommuDetachDevicePasid(hwpt.domain, idev.dev, pasid);
  if (handle) hwpt.fault?.autoRespond(handle);
}

/** iommufd_hw_pagetable_attach: attach a device at a PASID; the first device of the group attaches the group. */
export function hwptAttach(hwpt: IommufdHwpt, idev: IommufdDevice, pasid: number): void {
  const igroup = igroupOf(idev);
  const paging = findHwptPaging(hwpt);
  const attachResv = paging !== null && pasid === IOMMU_NO_PASID;
  let attach = igroup.pasidAttach.get(pasid);
  const first = !attach;
  if (attach?.devices.has(idev.id)) throw new ErrnoError('EBUSY', 'ioctl', `device ${idev.id} is already attached at PASID ${pasid}`);
  if (attach && attach.hwpt !== hwpt) throw new ErrnoError('EINVAL', 'ioctl', 'the group is attached to another HWPT');
  // The struct iommufd_attach of the first device at this PASID.
  if (first) idev.ctx.faults.check('iommufd_hw_pagetable_attach');
  if (attachResv) enforceResvRegions(paging.ioas, idev);
  try {
    if (first) {
      hwptAttachDevice(hwpt, idev, pasid);
      attach = { hwpt, devices: new Map() };
      igroup.pasidAttach.set(pasid, attach);
    }
  } catch (e) {
    if (attachResv) paging.ioas.iopt.removeReserved(idev.dev);
    throw e;
  }
  hwpt.get();
  attach!.devices.set(idev.id, idev);
}

/** iommufd_hw_pagetable_put: drops a reference; an auto domain nobody uses any more is destroyed. */
function hwptPut(ctx: IommufdCtx, hwpt: IommufdHwpt): void {
  hwpt.put();
  if (findHwptPaging(hwpt)?.autoDomain && hwpt.users === 1) ctx.remove(hwpt.id, { expect: hwpt });
}

/** iommufd_hw_pagetable_detach: returns the HWPT the device was attached to (its ref already dropped), or null. */
export function hwptDetach(idev: IommufdDevice, pasid: number): IommufdHwpt | null {
  const igroup = igroupOf(idev);
  const attach = igroup.pasidAttach.get(pasid);
  if (!attach) return null;
  const hwpt = attach.hwpt;
  attach.devices.delete(idev.id);
  if (attach.devices.size === 0) {
    hwptDetachDevice(hwpt, idev, pasid);
    igroup.pasidAttach.delete(pasid);
  }
  const paging = findHwptPaging(hwpt);
  if (paging && pasid === IOMMU_NO_PASID) paging.ioas.iopt.removeReserved(idev.dev);
  hwptPut(idev.ctx, hwpt);
  return hwpt;
}

/** iommufd_device_do_replace: move every device of the group at `pasid` to hwpt; returns the old HWPT. */
function doReplace(idev: IommufdDevice, pasid: number, hwpt: IommufdHwpt): IommufdHwpt | null {
  const igroup = igroupOf(idev);
  const attach: IommufdAttach | undefined = igroup.pasidAttach.get(pasid);
  if (!attach) throw new ErrnoError('EINVAL', 'ioctl', `nothing attached at PASID ${pasid}`);
  if (!attach.devices.has(idev.id)) throw new ErrnoError('EINVAL', 'ioctl', `device ${idev.id} is not attached at PASID ${pasid}`);
  const old = attach.hwpt;
  if (hwpt === old) return null;
  const paging = findHwptPaging(hwpt);
  const oldPaging = findHwptPaging(old);
  const attachResv = paging !== null && pasid === IOMMU_NO_PASID;
  const newIoas = attachResv && (!oldPaging || paging.ioas !== oldPaging.ioas);
  const devs = [...attach.devices.values()];
  if (newIoas) {
    try {
      for (const d of devs) enforceResvRegions(paging.ioas, d);
    } catch (e) {
      for (const d of devs) paging.ioas.iopt.removeReserved(d.dev);
      throw e;
    }
  }
  const oldHandle = igroup.group.pasids.get(pasid);
  try {
    pasidCompat(hwpt, igroup, pasid);
    idev.ctx.faults.check('iommufd_hwpt_replace_device');
    const handle: IommufdAttachHandle = { domain: hwpt.domain, idev };
    if (pasid === IOMMU_NO_PASID) iommuReplaceGroupHandle(igroup.group, hwpt.domain, handle);
    else iommuReplaceDevicePasid(hwpt.domain, idev.dev, pasid, handle);
  } catch (e) {
    if (newIoas) for (const d of devs) paging.ioas.iopt.removeReserved(d.dev);
    throw e;
  }
  if (oldHandle) old.fault?.autoRespond(oldHandle);
  if (oldPaging && pasid === IOMMU_NO_PASID && (!paging || paging.ioas !== oldPaging.ioas)) {
    for (const d of devs) oldPaging.ioas.iopt.removeReserved(d.dev);
  }
  attach.hwpt = hwpt;
  for (let i = 0; i < devs.length; i++) hwpt.get();
  for (let i = 0; i < devs.length - 1; i++) old.put();
  return old;
}

type AttachFn = (idev: IommufdDevice, pasid: number, hwpt: IommufdHwpt) => IommufdHwpt | null;

const doAttach: AttachFn = (idev, pasid, hwpt) => {
  hwptAttach(hwpt, idev, pasid);
  return null;
};

/**
 * iommufd_device_auto_get_domain: reuse a compatible auto domain of the IOAS (EINVAL = try the
 * next one) or allocate a new one, attached immediately.
 */
function autoGetDomain(idev: IommufdDevice, pasid: number, ioas: IommufdIoas, fn: AttachFn): { ptId: number; destroy: IommufdHwpt | null } {
  for (const h of [...ioas.hwpts] as IommufdHwptPaging[]) {
    if (!h.autoDomain) continue;
    try {
      return { ptId: h.id, destroy: fn(idev, pasid, h) };
    } catch (e) {
      if (e instanceof ErrnoError && e.code === 'EINVAL') continue;
      throw e;
    }
  }
  const immediate = fn === doAttach;
  const ctx = idev.ctx;
  const hwpt = hwptPagingAlloc(ctx, ioas, idev, pasid, 0, immediate, null);
  let destroy: IommufdHwpt | null = null;
  if (!immediate) {
    try {
      destroy = fn(idev, pasid, hwpt);
    } catch (e) {
      ctx.abortAndDestroy(hwpt);
      throw e;
    }
  }
  hwpt.autoDomain = true;
  ctx.finalize(hwpt);
  return { ptId: hwpt.id, destroy };
}

/** iommufd_device_change_pt: the common part of attach and replace; returns the pt_id actually used. */
function changePt(idev: IommufdDevice, pasid: number, ptId: number, fn: AttachFn): number {
  const ctx = idev.ctx;
  const pt = ctx.getObject(ptId);
  let destroy: IommufdHwpt | null;
  let outId = ptId;
  if (pt.type === 'HWPT_PAGING' || pt.type === 'HWPT_NESTED') {
    destroy = fn(idev, pasid, pt as IommufdHwpt);
  } else if (pt.type === 'IOAS') {
    const r = autoGetDomain(idev, pasid, pt as IommufdIoas, fn);
    destroy = r.destroy;
    outId = r.ptId;
  } else {
    throw new ErrnoError('EINVAL', 'ioctl', `object ${ptId} is a ${pt.type}, not an IOAS or HWPT`);
  }
  if (destroy) hwptPut(ctx, destroy);
  return outId;
}

/** iommufd_device_attach: attach to an IOAS (auto domain) or a HWPT; returns the pt_id. */
export function deviceAttach(idev: IommufdDevice, pasid: number, ptId: number): number {
  const id = changePt(idev, pasid, ptId, doAttach);
  idev.get();
  return id;
}

/** iommufd_device_replace */
export function deviceReplace(idev: IommufdDevice, pasid: number, ptId: number): number {
  return changePt(idev, pasid, ptId, doReplace);
}

/** iommufd_device_detach */
export function deviceDetach(idev: IommufdDevice, pasid: number): void {
  if (!hwptDetach(idev, pasid)) return;
  idev.put();
}

/** The HWPT a device is attached to at a PASID, or null. */
export function attachedHwpt(idev: IommufdDevice, pasid: number): IommufdHwpt | null {
  return igroupOf(idev).pasidAttach.get(pasid)?.hwpt ?? null;
}

export function getDevice(ctx: IommufdCtx, id: number): IommufdDevice {
  return ctx.getObject<IommufdDevice>(id, 'DEVICE');
}
