// @iommu-lab/iommu-core: the vendor plugin interface and the IOMMU core (drivers/iommu/iommu.c).
export * from './uapi/iommufd.js';
export * from './uapi/vfio.js';
export * from './domain.js';
export * from './gather.js';
export * from './user-data.js';
export * from './ops.js';
export * from './device.js';
export * from './group.js';
export * from './iopf.js';
export * from './viommu.js';
export * from './unit.js';
export * from './registry.js';
export * from './subsystem.js';
export * from './attach.js';
export * from './map.js';
export * from './tlb.js';
export * from './iommufd-api.js';
