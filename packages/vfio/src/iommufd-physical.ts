// vfio_iommufd_physical_*: a physical device bound to iommufd as an iommufd_device (drivers/vfio/iommufd.c).
import { IOMMU_NO_PASID, type IommufdCtxRef, type IommufdDeviceRef, type IommufdKernelApi, iommufdKernelApi } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import type { VfioDevice } from './vfio-device.js';

function api(vdev: VfioDevice): IommufdKernelApi {
  return iommufdKernelApi(vdev.host);
}

function boundDevice(vdev: VfioDevice): IommufdDeviceRef {
  if (!vdev.iommufdDevice) throw new ErrnoError('EINVAL', 'ioctl', `${vdev.pci.bdf} is not bound to an iommufd`);
  return vdev.iommufdDevice;
}

export function physicalBind(vdev: VfioDevice, ictx: IommufdCtxRef): number {
  const idev = api(vdev).deviceBind(ictx, vdev.dev);
  vdev.iommufdDevice = idev;
  vdev.pasids.clear();
  return idev.id;
}

/** Detaches every PASID, then the RID, then unbinds. */
export function physicalUnbind(vdev: VfioDevice): void {
  const a = api(vdev);
  const idev = boundDevice(vdev);
  for (const pasid of [...vdev.pasids].sort((x, y) => x - y)) {
    a.deviceDetach(idev, pasid);
    vdev.pasids.delete(pasid);
  }
  if (vdev.iommufdAttached) {
    a.deviceDetach(idev, IOMMU_NO_PASID);
    vdev.iommufdAttached = false;
  }
  a.deviceUnbind(idev);
  vdev.iommufdDevice = null;
}

/** A second attach replaces the first. */
export function physicalAttachIoas(vdev: VfioDevice, ptId: number): number {
  const a = api(vdev);
  const idev = boundDevice(vdev);
  const out = vdev.iommufdAttached ? a.deviceReplace(idev, IOMMU_NO_PASID, ptId) : a.deviceAttach(idev, IOMMU_NO_PASID, ptId);
  vdev.iommufdAttached = true;
  return out;
}

export function physicalDetachIoas(vdev: VfioDevice): void {
  if (!vdev.iommufdDevice || !vdev.iommufdAttached) return;
  api(vdev).deviceDetach(vdev.iommufdDevice, IOMMU_NO_PASID);
  vdev.iommufdAttached = false;
}

export function physicalPasidAttachIoas(vdev: VfioDevice, pasid: number, ptId: number): number {
  const a = api(vdev);
  const idev = boundDevice(vdev);
  if (vdev.pasids.has(pasid)) return a.deviceReplace(idev, pasid, ptId);
  const out = a.deviceAttach(idev, pasid, ptId);
  vdev.pasids.add(pasid);
  return out;
}

export function physicalPasidDetachIoas(vdev: VfioDevice, pasid: number): void {
  if (!vdev.iommufdDevice || !vdev.pasids.has(pasid)) return;
  api(vdev).deviceDetach(vdev.iommufdDevice, pasid);
  vdev.pasids.delete(pasid);
}
