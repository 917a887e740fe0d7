// @iommu-lab/iommufd: /dev/iommu, the kernel's iommufd uAPI (drivers/iommu/iommufd).
export * from './object.js';
export * from './context.js';
export * from './ucmd.js';
export * from './ioctl-table.js';
export * from './main.js';
export * from './ioas.js';
export * from './iopt/ranges.js';
export * from './iopt/area.js';
export * from './iopt/pages.js';
export * from './iopt/iopt.js';
export * from './hw-pagetable.js';
export * from './device.js';
export * from './group.js';
export * from './access.js';
export * from './mmap.js';
