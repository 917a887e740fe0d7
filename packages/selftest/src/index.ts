// @iommu-lab/selftest: the iommufd mock driver and the kernel's iommufd selftest in TypeScript.
export * from './uapi/iommufd-test.js';
export * from './mock/pagetable.js';
export * from './mock/device.js';
export * from './mock/domain.js';
export * from './mock/viommu.js';
export * from './mock/ops.js';
export * from './install.js';
