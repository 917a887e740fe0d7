// struct iommu_group: devices that share translation, their current domain and PASID attachments.
import type { IommuDevice } from './device.js';
import type { IommuDomain } from './domain.js';

/** struct iommu_attach_handle: what the domain's user (iommufd) keeps per attachment. */
export interface IommuAttachHandle {
  domain: IommuDomain;
}

export class IommuGroup {
  readonly devices: IommuDevice[] = [];
  /** The domain every device of the group (RID) translates through now. */
  domain: IommuDomain;
  /** Domain restored when DMA ownership is released (the DMA-API default; blocked in the simulator). */
  readonly defaultDomain: IommuDomain;
  readonly blockingDomain: IommuDomain;
  /** DMA owner (iommufd's context) and how many of its devices hold the claim. */
  owner: unknown = null;
  ownerCount = 0;
  /** pasid_array: RID (IOMMU_NO_PASID) and PASID attachments with their handles. */
  readonly pasids = new Map<number, IommuAttachHandle>();

  constructor(
    readonly id: number,
    blockingDomain: IommuDomain,
  ) {
    this.blockingDomain = blockingDomain;
    this.defaultDomain = blockingDomain;
    this.domain = blockingDomain;
  }
}
