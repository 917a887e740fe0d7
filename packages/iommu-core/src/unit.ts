// A physical IOMMU instance: its driver (iommu_ops) and its hardware (the DMA translator devices use).
import type { DmaTranslator } from '@iommu-lab/platform';
import type { IommuOps } from './ops.js';

export interface IommuUnit {
  /** The host spec's id ("dmar0", "smmu0"). */
  readonly id: string;
  /** The registered model ("intel-vtd", "arm-smmuv3"). */
  readonly model: string;
  readonly ops: IommuOps;
  /** The hardware model: what PCI devices behind this unit translate through. */
  readonly hw: DmaTranslator;
  /** Key facts for `iommu-lab info` ("CAP": "0x...", "mode": "scalable"). */
  describe(): Record<string, string>;
}
