// The intel-iommu device model, registered under its qdev name.
import { registerVirtualIommu } from '../vm/viommu-model.js';
import { IntelIommuDevice } from './intel-iommu.js';

registerVirtualIommu('intel-iommu', (vm, opts) => new IntelIommuDevice(vm, opts));

export { IntelIommuDevice } from './intel-iommu.js';
export { intelIommuConfig, type IntelIommuConfig } from './config.js';
export { vtdCapInit } from './caps.js';
export { VtdAddressSpace } from './address-space.js';
export type { VtdFault } from './fault.js';
export { vmmPasidAllocator, VmPasids } from './pasid-alloc.js';
export type { VtdSvm } from './svm.js';
export type { VtdPasidBind } from './pasid-bind.js';
export type { GuestPageRequest } from './prq.js';
