// The vendor side of struct iommufd_viommu and iommufd_viommu_ops, and what iommufd offers it back.
import type { IommuDevice } from './device.js';
import type { IommuDomain } from './domain.js';
import type { IommuUnit } from './unit.js';
import type { IommuUserDataArray } from './user-data.js';

/** Services iommufd gives a driver's vIOMMU (iommufd_viommu_* helpers of drivers/iommu/iommufd/driver.c). */
export interface ViommuCore {
  /** iommufd_viommu_report_event: queue one event on the vEVENTQ of `type`; EOPNOTSUPP without one. */
  reportEvent(type: number, data: Uint8Array): void;
  /** iommufd_viommu_find_dev: the device a virtual ID (vSID, vRID) names, or null. */
  findDevice(virtId: bigint): IommuDevice | null;
  /** iommufd_viommu_get_vdev_id: the virtual ID of a device, or null without a vDEVICE. */
  virtIdOf(dev: IommuDevice): bigint | null;
  /** iommufd_viommu_alloc_mmap: lets user space mmap these frames at the returned offset of the iommufd. */
  allocMmap(pfns: readonly number[]): bigint;
  /** iommufd_viommu_destroy_mmap */
  destroyMmap(offset: bigint): void;
}

/** A hardware queue a vIOMMU runs from guest memory (iommufd_hw_queue driver part). */
export interface IommuHwQueue {
  /** A queue that must outlive this one (iommufd_hw_queue_depend). */
  readonly dependsOn?: IommuHwQueue | null;
  destroy?(): void;
}

/** A vIOMMU as a driver implements it. Optional hooks answer EOPNOTSUPP when absent. */
export interface IommuViommu {
  readonly type: number;
  readonly unit: IommuUnit;
  /** The nest-parent (stage-2) domain the vIOMMU was created on. */
  readonly parent: IommuDomain;
  /** Vendor output data written back to user space at allocation (its first `len` bytes). */
  readonly outData?: Uint8Array;
  /** cache_invalidate: process an array of vendor commands in order; sets array.entry_num to the count handled. */
  cacheInvalidate?(array: IommuUserDataArray): void;
  /** vdevice_init: a vDEVICE for dev with virtId was created. */
  vdeviceInit?(dev: IommuDevice, virtId: bigint): void;
  /** vdevice destroy: the vDEVICE is going away. */
  vdeviceDestroy?(dev: IommuDevice, virtId: bigint): void;
  /** hw_queue_init_phys: a hardware queue of `type` at nest-parent IOVA `iova`, host physical `pa` (contiguous). */
  hwQueueAlloc?(type: number, index: number, iova: bigint, pa: number, length: number): IommuHwQueue;
  /** The largest hardware-queue index + 1 the vIOMMU supports for `type`, or 0 for an unsupported type. */
  hwQueueMax?(type: number): number;
  /** destroy: the vIOMMU object is freed. */
  destroy?(): void;
}

/** Tells a vIOMMU apart from a domain (both can be the parent of a nested allocation). */
export function isViommu(x: IommuDomain | IommuViommu): x is IommuViommu {
  return !('attachDev' in x);
}
