// Remapping hardware register offsets and bits (VT-d spec 10.4; offsets as the kernel's intel/iommu.h names them).

export const DMAR_VER_REG = 0x00;
export const DMAR_CAP_REG = 0x08;
export const DMAR_ECAP_REG = 0x10;
export const DMAR_GCMD_REG = 0x18;
export const DMAR_GSTS_REG = 0x1c;
export const DMAR_RTADDR_REG = 0x20;
export const DMAR_CCMD_REG = 0x28;
export const DMAR_FSTS_REG = 0x34;
export const DMAR_FECTL_REG = 0x38;
export const DMAR_FEDATA_REG = 0x3c;
export const DMAR_FEADDR_REG = 0x40;
export const DMAR_FEUADDR_REG = 0x44;
export const DMAR_IQH_REG = 0x80;
export const DMAR_IQT_REG = 0x88;
export const DMAR_IQA_REG = 0x90;
export const DMAR_ICS_REG = 0x9c;
export const DMAR_IECTL_REG = 0xa0;
export const DMAR_IEDATA_REG = 0xa4;
export const DMAR_IEADDR_REG = 0xa8;
export const DMAR_IEUADDR_REG = 0xac;
export const DMAR_IQER_REG = 0xb0;

/** Where this model puts the IOTLB registers (ECAP.IRO * 16) and the fault recording registers (CAP.FRO * 16), as QEMU does. */
export const VTD_IOTLB_REG_OFFSET = 0xf0;
export const VTD_FRCD_REG_OFFSET = 0x220;
/** Each fault recording register is 128 bits. */
export const FRCD_REG_LEN = 16;

// GCMD_REG / GSTS_REG bits (10.4.4, 10.4.5).
export const DMA_GCMD_TE = 1 << 31;
export const DMA_GCMD_SRTP = 1 << 30;
export const DMA_GCMD_SFL = 1 << 29;
export const DMA_GCMD_EAFL = 1 << 28;
export const DMA_GCMD_WBF = 1 << 27;
export const DMA_GCMD_QIE = 1 << 26;
export const DMA_GCMD_IRE = 1 << 25;
export const DMA_GCMD_SIRTP = 1 << 24;
export const DMA_GCMD_CFI = 1 << 23;
export const DMA_GSTS_TES = 1 << 31;
export const DMA_GSTS_RTPS = 1 << 30;
export const DMA_GSTS_WBFS = 1 << 27;
export const DMA_GSTS_QIES = 1 << 26;

// RTADDR_REG (10.4.6): TTM in bits 11:10; the kernel sets bit 10 (scalable mode).
export const DMA_RTADDR_SMT = 1n << 10n;
export const RTADDR_TTM_LEGACY = 0;
export const RTADDR_TTM_SCALABLE = 1;
export const RTADDR_TTM_ABORT = 3;

// CCMD_REG (10.4.7).
export const DMA_CCMD_ICC = 1n << 63n;
export const DMA_CCMD_GLOBAL_INVL = 1n << 61n;
export const DMA_CCMD_DOMAIN_INVL = 2n << 61n;
export const DMA_CCMD_DEVICE_INVL = 3n << 61n;

// IOTLB_REG (10.4.8.1).
export const DMA_TLB_IVT = 1n << 63n;
export const DMA_TLB_GLOBAL_FLUSH = 1n << 60n;
export const DMA_TLB_DSI_FLUSH = 2n << 60n;
export const DMA_TLB_PSI_FLUSH = 3n << 60n;

// FSTS_REG (10.4.9).
export const DMA_FSTS_PFO = 1 << 0;
export const DMA_FSTS_PPF = 1 << 1;
export const DMA_FSTS_IQE = 1 << 4;
export const DMA_FSTS_ICE = 1 << 5;
export const DMA_FSTS_ITE = 1 << 6;
export const DMA_FSTS_PRO = 1 << 7;
/** FSTS.FRI: index of the first pending fault recording register (bits 15:8). */
export function fstsFri(fsts: number): number {
  return (fsts >>> 8) & 0xff;
}

// FECTL_REG / IECTL_REG (10.4.10, 10.4.27).
export const DMA_FECTL_IM = 1 << 31;
export const DMA_FECTL_IP = 1 << 30;

// ICS_REG (10.4.26).
export const DMA_ICS_IWC = 1;

/** IQA_REG (10.4.25): base 63:12, DW bit 11 (1 = 256-bit descriptors), QS 2:0 (2^QS 4 KiB pages). */
export interface Iqa {
  base: bigint;
  dw: 0 | 1;
  qs: number;
}

export const IqaReg = {
  decode(v: bigint): Iqa {
    return { base: v & ~0xfffn, dw: ((v >> 11n) & 1n) === 1n ? 1 : 0, qs: Number(v & 7n) };
  },
  encode(f: Iqa): bigint {
    if ((f.base & 0xfffn) !== 0n) throw new RangeError(`IQA base 0x${f.base.toString(16)} is not 4 KiB aligned`);
    if (!Number.isInteger(f.qs) || f.qs < 0 || f.qs > 7) throw new RangeError(`IQA.QS ${f.qs} is not 0..7`);
    return f.base | (BigInt(f.dw) << 11n) | BigInt(f.qs);
  },
  /** Queue entries: 2^(QS+8) 128-bit or 2^(QS+7) 256-bit descriptors. */
  entries(f: Iqa): number {
    return 2 ** (f.qs + 8 - f.dw);
  },
};

/** IQER_REG (10.4.29): IQEI 3:0, ITESID 47:32, ICESID 63:48. */
export const IQEI = {
  INFO_NOT_AVAILABLE: 0,
  INVALID_TAIL_POINTER: 1,
  DESCRIPTOR_FETCH_ERROR: 2,
  INVALID_DESCRIPTOR_TYPE: 3,
  RESERVED_FIELD: 4,
  INVALID_DESCRIPTOR_WIDTH: 5,
  TAIL_MISALIGNED: 6,
  INVALID_TTM: 7,
} as const;

export const IqerReg = {
  decode(v: bigint): { iqei: number; itesid: number; icesid: number } {
    return { iqei: Number(v & 0xfn), itesid: Number((v >> 32n) & 0xffffn), icesid: Number((v >> 48n) & 0xffffn) };
  },
  encode(f: { iqei: number; itesid?: number; icesid?: number }): bigint {
    return BigInt(f.iqei & 0xf) | (BigInt((f.itesid ?? 0) & 0xffff) << 32n) | (BigInt((f.icesid ?? 0) & 0xffff) << 48n);
  },
};
