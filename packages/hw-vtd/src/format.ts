// @iommu-lab/hw-vtd/format: the pure VT-d binary codecs (no hardware or driver state), for the VMM layer.
export * from './format/bitfield.js';
export * from './format/registers.js';
export * from './format/cap.js';
export * from './format/root-entry.js';
export * from './format/context-entry.js';
export * from './format/pasid-dir-entry.js';
export * from './format/pasid-entry.js';
export * from './format/ss-pte.js';
export * from './format/fs-pte.js';
export * from './format/inv-desc.js';
export * from './format/fault-record.js';
export * from './format/fault-reasons.js';
export * from './format/page-request.js';
export * from './format/vcmd.js';
