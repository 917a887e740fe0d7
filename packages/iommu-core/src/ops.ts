// struct iommu_ops (include/linux/iommu.h): the vendor driver plugin interface.
import type { IommuDevice } from './device.js';
import type { IommuDomain } from './domain.js';
import type { IopfFault, IommuPageResponse } from './iopf.js';
import type { IommuUserData } from './user-data.js';
import type { IommuViommu, ViommuCore } from './viommu.js';

/** enum iommu_cap. */
export type IommuCap =
  | 'CACHE_COHERENCY'
  | 'NOEXEC'
  | 'PRE_BOOT_PROTECTION'
  | 'ENFORCE_CACHE_COHERENCY'
  | 'DEFERRED_FLUSH'
  | 'DIRTY_TRACKING'
  | 'PCI_ATS_SUPPORTED';

/** struct iommu_resv_region: IOVA a device must not have mapped (MSI windows, RMRRs). */
export interface IommuResvRegion {
  readonly start: bigint;
  readonly length: bigint;
  readonly type: 'direct' | 'direct-relaxable' | 'reserved' | 'msi' | 'sw-msi';
}

/** What hw_info returns: the vendor struct's bytes and its iommu_hw_info_type. */
export interface IommuHwInfo {
  readonly type: number;
  readonly data: Uint8Array;
}

/**
 * A vendor driver. Every hook but probeDevice and blockedDomain is optional; when a vendor
 * leaves one out, the core and iommufd answer EOPNOTSUPP as the kernel does.
 */
export interface IommuOps {
  /** The driver's name ("intel-iommu", "arm-smmu-v3", "iommufd-mock"). */
  readonly name: string;
  /** probe_device: take the device (set dev.maxPasids and driver data) or throw ENODEV. */
  probeDevice(dev: IommuDevice): void;
  /** release_device: the device goes away; its domains are already detached. */
  releaseDevice?(dev: IommuDevice): void;
  /** get_resv_regions: the device's reserved IOVA regions. */
  getResvRegions?(dev: IommuDevice): IommuResvRegion[];
  /** capable: a per-device capability (IOMMU_CAP_*). */
  capable?(dev: IommuDevice, cap: IommuCap): boolean;
  /** hw_info: the vendor's iommu_hw_info_* struct for `dev`; type 0 (DEFAULT) asks for the native one. */
  hwInfo?(dev: IommuDevice, type: number): IommuHwInfo;
  /**
   * domain_alloc_user: a paging domain when parent is null (flags NEST_PARENT, DIRTY_TRACKING,
   * PASID), or a nested domain on a nest-parent paging domain or on a vIOMMU, from vendor data.
   */
  domainAllocUser?(dev: IommuDevice, flags: number, parent: IommuDomain | IommuViommu | null, userData: IommuUserData | null): IommuDomain;
  /** get_viommu_size: whether the device's IOMMU can host a vIOMMU of `type` (checked before the HWPT). */
  viommuSupported?(dev: IommuDevice, type: number): boolean;
  /** viommu_alloc: a vIOMMU of `type` over a nest-parent domain. */
  viommuAlloc?(dev: IommuDevice, parent: IommuDomain, type: number, userData: IommuUserData | null, core: ViommuCore): IommuViommu;
  /** page_response: software answered a page request; the device may retry. */
  pageResponse?(dev: IommuDevice, fault: IopfFault, response: IommuPageResponse): void;
  /** blocked_domain: the static domain a device sits in when nothing else is attached. */
  readonly blockedDomain: IommuDomain;
  /** identity_domain: DMA addresses are physical addresses. */
  readonly identityDomain?: IommuDomain;
  /** user_pasid_table: nested translation takes the guest's PASID/CD table (SMMUv3). */
  readonly userPasidTable?: boolean;
}
