// The guest kernel model: page allocator, intel-iommu driver, DMA API, DSA driver, debugfs.
export { bootGuest, Guest, type GuestOptions, type GuestDmaFault } from './kernel.js';
export { GuestDmaApi, IOVA_FQ_SIZE, type DmaDirection, type FlushMode } from './dma-iommu.js';
export { IovaDomain } from './iova.js';
export { GuestPageAllocator } from './page-alloc.js';
export { IntelIommuGuest, DMAR_FAULT_VECTOR } from './intel/iommu.js';
export type { GuestDmarFault } from './intel/fault.js';
export { dumpDeviceTranslation } from './debugfs.js';
export { IommuSva, type GuestIopfRecord, type SvaDevice, type SvaIommuDriver } from './iommu-sva.js';
export { GuestSva } from './intel/sva.js';
export { ArmSmmuSva, armSmmuSvaUnsupported, type ArmSvaDomain } from './arm/sva.js';
export type { GuestPpr, GuestPprRecord } from './arm/priq.js';
export { GuestMm, GuestProcessMm, IOMMU_PASID_INVALID, type GuestVma, type MmFaultResult } from './mm.js';
export { GuestMmArm64, ARM64_MAIR_EL1 } from './mm-arm64.js';
export type { SvaDmaResult } from './idxd-sva.js';
export type { GuestPrqRecord, GuestPrqRequest } from './intel/prq.js';
export { GuestSvmError } from './intel/svm.js';
