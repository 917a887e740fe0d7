// iommu-lab extension, NOT in Linux: a channel for unrecoverable VT-d DMA-remapping faults of nested domains.
// Linux 7.3 reports only recoverable (page-request) faults of a nested VT-d domain to user space; a VMM
// cannot tell its guest about a stage-1 fault. These numbers are outside every Linux enum's range and
// no Linux struct is changed: a VMM on real Linux gets EOPNOTSUPP for them and carries on without.
import { defineStruct } from '@iommu-lab/platform';

/** enum iommu_viommu_type value of an iommu-lab VT-d vIOMMU (nested HWPTs are allocated over it). */
export const IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD = 0x1ab0;
/** enum iommu_veventq_type value of the fault queue of that vIOMMU. */
export const IOMMU_VEVENTQ_TYPE_IOMMU_LAB_VTD = 0x1ab0;

/** Flags of struct iommu_vevent_iommu_lab_vtd. */
export const IOMMU_LAB_VTD_FAULT_PASID_VALID = 1 << 0;
export const IOMMU_LAB_VTD_FAULT_READ = 1 << 1;
export const IOMMU_LAB_VTD_FAULT_EXEC = 1 << 2;
export const IOMMU_LAB_VTD_FAULT_PRIV = 1 << 3;

/**
 * One fault as the host's fault recording register had it, in the guest's terms: the vDEVICE's virt_id
 * instead of the host SID; the address and PASID are the request's (a guest IOVA and guest PASID under
 * nesting); reason is the VT-d fault reason (first-stage reasons only: 0x70-0x77, 0x80-0x87).
 */
export const iommu_vevent_iommu_lab_vtd = defineStruct('iommu_vevent_iommu_lab_vtd', 24, {
  fault_addr: [0, 'u64'],
  virt_id: [8, 'u64'],
  pasid: [16, 'u32'],
  reason: [20, 'u8'],
  flags: [21, 'u8'],
  __reserved: [22, 'u16'],
});
