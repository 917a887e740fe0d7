// Per-device driver state (struct arm_smmu_master): its StreamID, CD table, ATS state and vIOMMU binding.
import type { IommuDevice, IommuDomain } from '@iommu-lab/iommu-core';
import type { CdTable } from './cd-table.js';
import type { ArmSmmuDevice } from './device.js';
import type { ArmVsmmu } from './viommu.js';

/** struct arm_smmu_vmaster: the vIOMMU and virtual StreamID events of this master are reported with. */
export interface SmmuVmaster {
  readonly vsmmu: ArmVsmmu;
  readonly vsid: bigint;
}

export class SmmuMaster {
  /** SubstreamID bits the master uses (its PASID width, capped by the SMMU and the linear CD table limit). */
  ssidBits = 0;
  stallEnabled = false;
  /** The device has PRI and the SMMU a PRI queue (arm_smmu_init_pri); PRG responses need the PASID (STE.PPAR). */
  priSupported = false;
  prgRespNeedsSsid = false;
  /** Attachments whose domain takes I/O page faults, by SubstreamID (master_domain->using_iopf). */
  readonly iopfSsids = new Set<number>();
  /** PCI ATS enabled at the device, and EATS in the installed STE. */
  atsEnabled = false;
  steAtsEnabled = false;
  cdTable: CdTable | null = null;
  vmaster: SmmuVmaster | null = null;
  /** The domain attached to the RID (iommu_driver_get_domain_for_dev). */
  ridDomain: IommuDomain | null = null;

  constructor(
    readonly smmu: ArmSmmuDevice,
    readonly dev: IommuDevice,
    /** PCI devices use their requester ID as their (only) StreamID. */
    readonly sid: number,
  ) {}

  /** arm_smmu_ats_supported: the SMMU, the root complex and the device all do ATS. */
  get atsSupported(): boolean {
    return this.smmu.features.ats && this.smmu.rcAts && (this.dev.pci?.ats ?? false);
  }

  /** arm_smmu_ssids_in_use */
  get ssidsInUse(): boolean {
    return (this.cdTable?.usedSsids ?? 0) > 0;
  }
}
