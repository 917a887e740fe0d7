// struct vfio_device and struct vfio_device_ops: a device registered with VFIO and what its driver provides.
import type { IommuDevice, IommufdCtxRef, IommufdDeviceRef } from '@iommu-lab/iommu-core';
import type { Host, IoctlArg, PciDevice, Process } from '@iommu-lab/platform';

/** The members of vfio_device_ops the cdev path uses; a missing optional one gives the kernel's errno. */
export interface VfioDeviceOps {
  readonly name: string;
  /** match_token_uuid: the VF token check of BIND_IOMMUFD (uuid null when none was passed). */
  matchTokenUuid?(vdev: VfioDevice, uuid: Uint8Array | null): void;
  bindIommufd(vdev: VfioDevice, ictx: IommufdCtxRef): number;
  unbindIommufd?(vdev: VfioDevice): void;
  /** Attach (or replace) the RID; returns the pt_id actually used. */
  attachIoas(vdev: VfioDevice, ptId: number): number;
  detachIoas(vdev: VfioDevice): void;
  pasidAttachIoas?(vdev: VfioDevice, pasid: number, ptId: number): number;
  pasidDetachIoas?(vdev: VfioDevice, pasid: number): void;
  openDevice?(vdev: VfioDevice): void;
  closeDevice?(vdev: VfioDevice): void;
  /** The driver's own ioctls (VFIO_DEVICE_GET_INFO for vfio-pci); ENOTTY for unknown ones. */
  ioctl(vdev: VfioDevice, request: number, arg: IoctlArg, proc: Process): number;
}

export class VfioDevice {
  /** device->open_count: the cdev path allows one open (bound) file at a time. */
  openCount = 0;
  cdevOpened = false;
  /** vdev->iommufd_device, set by the physical bind. */
  iommufdDevice: IommufdDeviceRef | null = null;
  /** vdev->iommufd_attached: the RID is attached to a page table. */
  iommufdAttached = false;
  /** vdev->pasids: PASIDs attached through VFIO_DEVICE_ATTACH_IOMMUFD_PT. */
  readonly pasids = new Set<number>();
  /** The context the bound file holds (df->iommufd). */
  ictx: IommufdCtxRef | null = null;

  constructor(
    readonly host: Host,
    /** The minor number: /dev/vfio/devices/vfio<index>. */
    readonly index: number,
    readonly pci: PciDevice,
    readonly dev: IommuDevice,
    readonly ops: VfioDeviceOps,
  ) {}

  get cdevPath(): string {
    return `/dev/vfio/devices/vfio${this.index}`;
  }
}
