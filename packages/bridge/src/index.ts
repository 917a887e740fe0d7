// @iommu-lab/bridge: serves the simulated /dev/iommu to unmodified C programs through an LD_PRELOAD shim.
export * from './protocol.js';
export * from './proc-maps.js';
export * from './mirror-object.js';
export * from './registry.js';
export * from './remote-mm.js';
export * from './remote-process.js';
export * from './coherence.js';
export * from './fail-nth.js';
export * from './fd-table.js';
export * from './state.js';
export * from './daemon.js';
export * from './shim-build.js';
export * from './run.js';
