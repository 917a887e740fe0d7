// @iommu-lab/hw-vtd: the Intel VT-d remapping hardware model and its intel-iommu driver.
export * from './format.js';
export * from './options.js';
export * from './unit.js';
export { VtdHardware, type VtdHardwareParams, type VtdCaching } from './hw/vtd-hw.js';
export { MissingInvalidationDetector, type StaleTranslationReport, type WalkedEntry } from './hw/detector.js';
export type { VtdFaultDetail, VtdFaultRecordInfo } from './hw/reports.js';
export { VtdTableWriter, OffsetMemory, type VtdRegisterAccess } from './hw/table-writer.js';
export { IntelIommu, FLPT_DEFAULT_DID, IDA_START_DID } from './driver/intel-iommu.js';
export { IntelIommuOps } from './driver/ops.js';
export { PagingDomain, type PagingStage } from './driver/domain-paging.js';
export { NestedDomain } from './driver/domain-nested.js';
export { DmarFaultHandler, type VtdFaultReport, type VtdFaultListener } from './driver/fault-handler.js';
export { DeviceDomainInfo, infoOf } from './driver/device-info.js';
export { QueuedInvalidation, type SubmittedDesc } from './driver/qi.js';
export { deviceTranslationStruct, domainTranslationStruct, ssResolve } from './debugfs.js';
export { PageRequestQueue } from './hw/prq.js';
export { IntelPrq, intelIommuPageResponse, type PrqRecord } from './driver/prq.js';
