// Scalable-mode fault reasons (VT-d spec 7.1.3, names as the kernel's dmar.c table prints them; 0x91 is SFL.10).

export const VTD_FR_SM_RTA_INVALID = 0x30;
export const VTD_FR_SM_TTM0_PASID = 0x31;
export const VTD_FR_SM_TTM0_PGRP = 0x32;
export const VTD_FR_SM_ROOT_ACCESS = 0x38;
export const VTD_FR_SM_ROOT_P = 0x39;
export const VTD_FR_SM_ROOT_RSVD = 0x3a;
export const VTD_FR_SM_CTX_ACCESS = 0x40;
export const VTD_FR_SM_CTX_P = 0x41;
export const VTD_FR_SM_CTX_RSVD = 0x42;
export const VTD_FR_SM_CTX_INVALID = 0x43;
export const VTD_FR_SM_CTX_DTE = 0x44;
export const VTD_FR_SM_CTX_PASIDE = 0x45;
export const VTD_FR_SM_PASID_TOO_BIG = 0x46;
export const VTD_FR_SM_CTX_PRE = 0x47;
export const VTD_FR_SM_RID_PASID = 0x48;
export const VTD_FR_SM_PDE_ACCESS = 0x50;
export const VTD_FR_SM_PDE_P = 0x51;
export const VTD_FR_SM_PDE_RSVD = 0x52;
export const VTD_FR_SM_PTE_ACCESS = 0x58;
export const VTD_FR_SM_PTE_P = 0x59;
export const VTD_FR_SM_PTE_RSVD = 0x5a;
export const VTD_FR_SM_PTE_INVALID = 0x5b;
export const VTD_FR_SM_PTE_ERE = 0x5c;
export const VTD_FR_SM_PTE_SRE = 0x5d;
export const VTD_FR_SM_FS_ACCESS = 0x70;
export const VTD_FR_SM_FS_P = 0x71;
export const VTD_FR_SM_FS_RSVD = 0x72;
export const VTD_FR_SM_FSPTPTR = 0x73;
export const VTD_FR_SM_FS_BEYOND_MGAW = 0x74;
export const VTD_FR_SM_FS_TOP_NESTED_READ = 0x75;
export const VTD_FR_SM_FS_NESTED_READ = 0x76;
export const VTD_FR_SM_FS_NESTED_WRITE = 0x77;
export const VTD_FR_SM_SS_ACCESS = 0x78;
export const VTD_FR_SM_SS_RW = 0x79;
export const VTD_FR_SM_SS_RSVD = 0x7a;
export const VTD_FR_SM_SSPTPTR = 0x7b;
export const VTD_FR_SM_SS_AD_NOSNOOP = 0x7c;
export const VTD_FR_SM_NON_CANONICAL = 0x80;
export const VTD_FR_SM_US = 0x81;
export const VTD_FR_SM_EXEC = 0x82;
export const VTD_FR_SM_BEYOND_MAX = 0x83;
export const VTD_FR_SM_SS_BEYOND_MAX = 0x84;
export const VTD_FR_SM_WRITE = 0x85;
export const VTD_FR_SM_READ = 0x86;
export const VTD_FR_SM_INTERRUPT_ADDR = 0x87;
export const VTD_FR_SM_FS_AD_NOSNOOP = 0x90;
export const VTD_FR_SM_FS_AD_FAILED = 0x91;

/** Every named scalable-mode reason, 0x30..0x91. */
export const SM_FAULT_REASONS: ReadonlyMap<number, string> = new Map([
  [0x30, 'SM: Invalid Root Table Address'],
  [0x31, 'SM: TTM 0 for request with PASID'],
  [0x32, 'SM: TTM 0 for page group request'],
  [0x38, 'SM: Error attempting to access Root Entry'],
  [0x39, 'SM: Present bit in Root Entry is clear'],
  [0x3a, 'SM: Non-zero reserved field set in Root Entry'],
  [0x40, 'SM: Error attempting to access Context Entry'],
  [0x41, 'SM: Present bit in Context Entry is clear'],
  [0x42, 'SM: Non-zero reserved field set in the Context Entry'],
  [0x43, 'SM: Invalid Context Entry'],
  [0x44, 'SM: DTE field in Context Entry is clear'],
  [0x45, 'SM: PASID Enable field in Context Entry is clear'],
  [0x46, 'SM: PASID is larger than the max in Context Entry'],
  [0x47, 'SM: PRE field in Context-Entry is clear'],
  [0x48, 'SM: RID_PASID field error in Context-Entry'],
  [0x50, 'SM: Error attempting to access the PASID Directory Entry'],
  [0x51, 'SM: Present bit in Directory Entry is clear'],
  [0x52, 'SM: Non-zero reserved field set in PASID Directory Entry'],
  [0x58, 'SM: Error attempting to access PASID Table Entry'],
  [0x59, 'SM: Present bit in PASID Table Entry is clear'],
  [0x5a, 'SM: Non-zero reserved field set in PASID Table Entry'],
  [0x5b, 'SM: Invalid Scalable-Mode PASID Table Entry'],
  [0x5c, 'SM: ERE field is clear in PASID Table Entry'],
  [0x5d, 'SM: SRE field is clear in PASID Table Entry'],
  [0x70, 'SM: Error attempting to access first-level paging entry'],
  [0x71, 'SM: Present bit in first-level paging entry is clear'],
  [0x72, 'SM: Non-zero reserved field set in first-level paging entry'],
  [0x73, 'SM: Error attempting to access FL-PML4 entry'],
  [0x74, 'SM: First-level entry address beyond MGAW in Nested translation'],
  [0x75, 'SM: Read permission error in FL-PML4 entry in Nested translation'],
  [0x76, 'SM: Read permission error in first-level paging entry in Nested translation'],
  [0x77, 'SM: Write permission error in first-level paging entry in Nested translation'],
  [0x78, 'SM: Error attempting to access second-level paging entry'],
  [0x79, 'SM: Read/Write permission error in second-level paging entry'],
  [0x7a, 'SM: Non-zero reserved field set in second-level paging entry'],
  [0x7b, 'SM: Invalid second-level page table pointer'],
  [0x7c, 'SM: A/D bit update needed in second-level entry when set up in no snoop'],
  [0x80, 'SM: Address in first-level translation is not canonical'],
  [0x81, 'SM: U/S set 0 for first-level translation with user privilege'],
  [0x82, 'SM: No execute permission for request with PASID and ER=1'],
  [0x83, 'SM: Address beyond the DMA hardware max'],
  [0x84, 'SM: Second-level entry address beyond the max'],
  [0x85, 'SM: No write permission for Write/AtomicOp request'],
  [0x86, 'SM: No read permission for Read/AtomicOp request'],
  [0x87, 'SM: Invalid address-interrupt address'],
  [0x90, 'SM: A/D bit update needed in first-level entry when set up in no snoop'],
  [0x91, 'SM: A/D bit update in first-level entry failed'],
]);

/** The name of a fault reason, or "Unknown" as dmar_get_fault_reason answers for a code it lacks. */
export function vtdFaultReasonName(reason: number): string {
  return SM_FAULT_REASONS.get(reason) ?? 'Unknown';
}
