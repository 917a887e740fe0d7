// @iommu-lab/vfio: the VFIO device cdev bound to iommufd (drivers/vfio) and a DSA-style DMA engine.
export * from './vfio-device.js';
export * from './device-file.js';
export * from './device-cdev.js';
export * from './iommufd-physical.js';
export * from './vfio-pci.js';
export * from './install.js';
export * from './uapi/idxd.js';
export * from './dma-engine.js';
