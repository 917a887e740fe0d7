// The virtual command interface (VT-d spec 10.4.43-10.4.45, ECAP.VCS): how a guest asks its VMM for PASIDs
// ("enlightened PASID allocation"). Offsets and fields as the kernel's last version of them (iommu.h, pasid.h).

export const DMAR_VCMD_REG = 0xe00;
export const DMAR_VCRSP_REG = 0xe10;
export const DMAR_VCCAP_REG = 0xe30;

/** VCCAP_REG.PAS: PASID allocation commands are supported. */
export const DMA_VCS_PAS = 1n;

/** VCMD_REG: command in bits 7:0, operand from bit 16. */
export const VCMD_CMD_ALLOC = 0x1;
export const VCMD_CMD_FREE = 0x2;
export const VCMD_CMD_OPERAND_SHIFT = 16n;

/** VCRSP_REG: IP (in progress) bit 0, status code bits 7:1, result from bit 16. */
export const VCMD_VRSP_IP = 0x1n;
export const VCMD_VRSP_SC_SUCCESS = 0;
export const VCMD_VRSP_SC_NO_PASID_AVAIL = 16;
export const VCMD_VRSP_SC_INVALID_PASID = 16;

export function vcmdEncode(cmd: number, operand = 0): bigint {
  return (BigInt(operand) << VCMD_CMD_OPERAND_SHIFT) | BigInt(cmd & 0xff);
}

export function vcrspEncode(sc: number, result = 0): bigint {
  return (BigInt(result & 0xfffff) << 16n) | BigInt((sc & 0x7f) << 1);
}

/** VCMD_VRSP_SC and VCMD_VRSP_RESULT_PASID. */
export function vcrspDecode(v: bigint): { ip: boolean; sc: number; pasid: number } {
  return { ip: (v & VCMD_VRSP_IP) !== 0n, sc: Number(v & 0xffn) >> 1, pasid: Number((v >> 16n) & 0xfffffn) };
}
