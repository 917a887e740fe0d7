// iommu-lab: the umbrella package. createHost plus the public API of every package.
export * from '@iommu-lab/platform';
export * from '@iommu-lab/iommu-core';
export { createHost, type LabHost } from './create-host.js';
export { DEFAULT_MACHINE, HostSpecError, hostSpecSchema, parseHostSpec, type HostSpec, type HostSpecInput } from './spec.js';
export { builtinDrivers, registerBuiltinDrivers } from './drivers.js';
export { formatHostInfo, hostInfo, type HostInfo } from './info.js';
