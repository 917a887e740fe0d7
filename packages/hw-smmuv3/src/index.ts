// @iommu-lab/hw-smmuv3: the Arm SMMUv3 hardware model and the Linux arm-smmu-v3 driver on it.
export * from './format.js';
export { type SmmuHwConfig, DEFAULT_SMMU_CONFIG, smmuIdRegs } from './hw/config.js';
export { SmmuV3, type SmmuMmio, type SmmuIrq } from './hw/smmu.js';
export type { StaleReport } from './hw/translate.js';
export type { CmdqStats } from './hw/cmdq.js';
export type { EvtqStats } from './hw/evtq.js';
export { SmmuTlb } from './hw/tlb.js';
export { ArmSmmuV3 } from './driver/arm-smmu-v3.js';
export { ArmSmmuDevice, type SmmuDeviceOptions } from './driver/device.js';
export type { SmmuFeatures } from './driver/features.js';
export { SmmuDomain } from './driver/domain.js';
export { NestedDomain, validateVste } from './driver/nested.js';
export { ArmVsmmu } from './driver/viommu.js';
export { StaticDomain } from './driver/static-domains.js';
export { SmmuMaster } from './driver/master.js';
export { armSmmuV3Driver, createArmSmmuV3, parseArmSmmuV3Options, type ArmSmmuV3Options, type ArmSmmuV3Unit } from './unit.js';
export { dumpDomain, dumpStream, dumpTable, s2Reader, physReader, type TableSpec, type TableReader, type DumpOptions } from './debug/dump.js';
