// @iommu-lab/hw-smmuv3/format: the SMMUv3 binary formats as pure codecs (no hardware or driver state).
export * from './format/bitfield.js';
export * from './format/registers.js';
export * from './format/idr.js';
export * from './format/strtab.js';
export * from './format/queue.js';
export * from './format/ste.js';
export * from './format/cd.js';
export * from './format/cmd.js';
export * from './format/event.js';
export * from './format/priq.js';
export * from './format/pte.js';
