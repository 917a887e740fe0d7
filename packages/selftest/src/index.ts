// @iommu-lab/selftest: the iommufd mock driver and the kernel's iommufd selftest in TypeScript.
export * from './uapi/iommufd-test.js';
export * from './mock/pagetable.js';
export * from './mock/device.js';
export * from './mock/domain.js';
export * from './mock/viommu.js';
export * from './mock/ops.js';
export * from './install.js';
export * from './harness/harness.js';
export * from './harness/run.js';
export { suite } from './suite/index.js';
export * from './vfio/vfio-target.js';
export * from './vfio/vfio-iommufd-setup.js';
export { failNthSuite } from './fail-nth/index.js';
