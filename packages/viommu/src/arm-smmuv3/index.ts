// The arm-smmuv3 device model, registered under its qdev name.
import { registerVirtualIommu } from '../vm/viommu-model.js';
import { ArmSmmuV3Device } from './smmuv3.js';

registerVirtualIommu('arm-smmuv3', (vm, opts) => new ArmSmmuV3Device(vm, opts));

export { ArmSmmuV3Device, type SmmuIrq } from './smmuv3.js';
export { smmuV3Config, type SmmuV3Config } from './config.js';
export { smmuV3IdRegs, type SmmuV3IdRegs } from './idr.js';
export { SmmuV3HiodRefusal } from './hiod.js';
export type { SmmuV3Accel, SmmuV3AccelDevice } from './accel.js';
export { VIRT_SMMU_BASE, SMMU_IRQ } from './regs.js';
