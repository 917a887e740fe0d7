// @iommu-lab/ioasid: the IOASID (PASID) allocator with sets, quotas, custom allocators and notifiers.
export * from './types.js';
export { IoasidSet, type IoasidSetOptions } from './set.js';
export { IOASID_PRIO_CPU, IOASID_PRIO_DEVICE, IOASID_PRIO_IOMMU, IOASID_PRIO_LAST } from './notifier.js';
export { IoasidAllocator, type IoasidAllocatorOptions, type IoasidNotifierOptions } from './allocator.js';
export { ioasidAllocator } from './host.js';
