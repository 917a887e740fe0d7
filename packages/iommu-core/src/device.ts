// A device behind an IOMMU (struct device + struct dev_iommu): what the core and drivers track per device.
import type { PciDevice } from '@iommu-lab/platform';
import type { IommuGroup } from './group.js';
import type { IommuUnit } from './unit.js';

export class IommuDevice {
  /** dev->iommu->max_pasids: 0 when the device cannot issue PASIDs. */
  maxPasids = 0;
  /** Driver per-device data (dev_iommu_priv). */
  priv: unknown = undefined;
  /** PCI PASID capability features reported in out_capabilities. */
  pasidExec = false;
  pasidPriv = false;
  private grp: IommuGroup | undefined;

  constructor(
    /** The device's name: its BDF, or the mock bus name. */
    readonly name: string,
    /** PCI requester ID (or the stream ID a platform device uses). */
    readonly rid: number,
    readonly unit: IommuUnit,
    readonly pci: PciDevice | null,
  ) {}

  get group(): IommuGroup {
    if (!this.grp) throw new Error(`${this.name} has no IOMMU group`);
    return this.grp;
  }

  /** @internal set once by the core when the device joins its group. */
  setGroup(g: IommuGroup): void {
    this.grp = g;
  }
}
