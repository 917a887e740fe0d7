// struct device_domain_info (kernel intel/iommu.h): what the driver keeps per device.
import type { IommuDevice } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import type { DmarDomainBase } from './domain-base.js';
import type { IntelIommu } from './intel-iommu.js';

/** struct pasid_table: the PASID directory pages of one device. */
export interface PasidTable {
  dirPfn: number;
  /** log2 of the directory's page count. */
  order: number;
  maxPasid: number;
}

export class DeviceDomainInfo {
  readonly bus: number;
  readonly devfn: number;
  atsSupported = false;
  atsEnabled = false;
  atsQdep = 0;
  pfsid = 0;
  pasidSupported = false;
  priSupported = false;
  pasidTable: PasidTable | null = null;
  /** The domain the RID is attached to (info->domain), null for blocked and identity. */
  domain: DmarDomainBase | null = null;
  /** Whether the RID's PASID entry (IOMMU_NO_PASID) is programmed. */
  domainAttached = false;

  constructor(
    readonly dev: IommuDevice,
    readonly iommu: IntelIommu,
  ) {
    this.bus = dev.rid >>> 8;
    this.devfn = dev.rid & 0xff;
  }

  /** PCI_DEVID(bus, devfn). */
  get sid(): number {
    return (this.bus << 8) | this.devfn;
  }
}

/** dev_iommu_priv_get. */
export function infoOf(dev: IommuDevice): DeviceDomainInfo {
  if (!(dev.priv instanceof DeviceDomainInfo)) throw new ErrnoError('ENODEV', 'iommu', `${dev.name} is not probed by intel-iommu`);
  return dev.priv;
}
