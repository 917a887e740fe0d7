// struct vfio_device_file and the device cdev's file operations (vfio_main.c, device_cdev.c).
import { type IommufdCtxRef, VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_DETACH_IOMMUFD_PT } from '@iommu-lab/iommu-core';
import { ErrnoError, type FileOps, OpenFile } from '@iommu-lab/platform';
import { ioctlAttachPt, ioctlBindIommufd, ioctlDetachPt, unbindIommufd } from './device-cdev.js';
import type { VfioDevice } from './vfio-device.js';

export class VfioDeviceFile {
  /** Set once BIND_IOMMUFD succeeded: every other ioctl needs it (EINVAL before). */
  accessGranted = false;
  iommufd: IommufdCtxRef | null = null;
  /** The iommufd device ID BIND_IOMMUFD returned (out_devid). */
  devid = 0;

  constructor(readonly device: VfioDevice) {}
}

export const vfioDeviceFops: FileOps = {
  name: 'vfio-device',
  // vfio_device_fops_unl_ioctl
  ioctl(file, request, arg, proc) {
    const df = file.priv as VfioDeviceFile;
    if (request === VFIO_DEVICE_BIND_IOMMUFD) return ioctlBindIommufd(df, arg, proc);
    if (!df.accessGranted) throw new ErrnoError('EINVAL', 'ioctl', `${df.device.cdevPath} is not bound to an iommufd`);
    if (request === VFIO_DEVICE_ATTACH_IOMMUFD_PT) return ioctlAttachPt(df, arg, proc);
    if (request === VFIO_DEVICE_DETACH_IOMMUFD_PT) return ioctlDetachPt(df, arg, proc);
    return df.device.ops.ioctl(df.device, request, arg, proc);
  },
  // vfio_device_fops_release: closing the file detaches and unbinds the device.
  release(file) {
    unbindIommufd(file.priv as VfioDeviceFile);
  },
};

/** vfio_device_fops_cdev_open: access stays blocked until BIND_IOMMUFD. */
export function openDeviceFile(vdev: VfioDevice, flags: number): OpenFile<VfioDeviceFile> {
  return new OpenFile(vfioDeviceFops, new VfioDeviceFile(vdev), vdev.cdevPath, flags);
}
