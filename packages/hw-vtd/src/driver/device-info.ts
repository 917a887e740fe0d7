// struct device_domain_info (kernel intel/iommu.h): what the driver keeps per device.
import type { IommuDevice, IommuDomain } from '@iommu-lab/iommu-core';
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
  /** PRI enabled on the device (iommu_enable_pci_pri): it may send page requests. */
  priEnabled = false;
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

/** iopf_for_domain_set: a domain that takes I/O page faults needs the device's PRI enabled (intel_iommu_enable_iopf). */
export function iopfForDomainSet(domain: IommuDomain, info: DeviceDomainInfo): void {
  if (domain.iopfHandler && !info.priEnabled) throw new ErrnoError('ENODEV', 'ioctl', `${info.dev.name}: PRI is not enabled, no I/O page faults`);
}

/** dev_iommu_priv_get. */
export function infoOf(dev: IommuDevice): DeviceDomainInfo {
  if (!(dev.priv instanceof DeviceDomainInfo)) throw new ErrnoError('ENODEV', 'iommu', `${dev.name} is not probed by intel-iommu`);
  return dev.priv;
}
