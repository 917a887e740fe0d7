// iommu-lab: the umbrella package. createHost plus the public API of every package.
export * from '@iommu-lab/platform';
export * from '@iommu-lab/iommu-core';
export * from '@iommu-lab/iommufd';
export * from '@iommu-lab/vfio';
export * from '@iommu-lab/ioasid';
/** The mock IOMMU, IOMMU_TEST_CMD and the kernel selftest suites. */
export * as selftest from '@iommu-lab/selftest';
/** The Intel VT-d hardware model and driver. */
export * as vtd from '@iommu-lab/hw-vtd';
/** The Arm SMMUv3 hardware model and driver. */
export * as smmuv3 from '@iommu-lab/hw-smmuv3';
export { createHost, type LabHost } from './create-host.js';
export { DEFAULT_MACHINE, HostSpecError, hostSpecSchema, parseHostSpec, type HostSpec, type HostSpecInput } from './spec.js';
export { builtinDrivers, registerBuiltinDrivers } from './drivers.js';
export { formatHostInfo, hostInfo, type HostInfo } from './info.js';
