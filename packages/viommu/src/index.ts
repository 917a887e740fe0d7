// @iommu-lab/viommu: the VMM (QEMU's role) - VMs, emulated vIOMMUs, passthrough devices, guests and workloads.
export * from './qemu/options.js';
export * from './vm/stats.js';
export * from './vm/host-fd.js';
export * from './vm/guest-ram.js';
export * from './vm/mmio.js';
export * from './vm/viommu-model.js';
export * from './vm/vm.js';
export * from './backends/iommufd.js';
export * from './vfio/container.js';
export * from './vfio/vfio-pci.js';
export * from './intel-iommu/index.js';
export * from './arm-smmuv3/index.js';
export * from './guest/index.js';
export * from './workloads/index.js';
