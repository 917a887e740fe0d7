// Stage-1 and stage-2 translation table descriptors: the platform's AArch64 VMSAv8-64 codecs (Arm ARM D8.3).
export { A64, A64Descriptor, type A64DescriptorFields, a64StartLevel, a64StartIndexBits } from '@iommu-lab/platform';

/** Descriptor bits io-pgtable-arm sets (drivers/iommu/io-pgtable-arm.c), as bit numbers. */
export const IOPTE = {
  /** Stage 1: nG 11, AP[2] read-only 7, AP[1] unprivileged 6, AttrIndx 4:2; stage 2: S2AP 7:6, MemAttr 5:2. */
  NG: 11,
  AP_RDONLY: 7,
  AP_UNPRIV: 6,
  AF: 10,
  SH_SHIFT: 8,
  DBM: 51,
  /** XN is two bits, 54:53 (UXN and PXN at stage 1, XN[1:0] at stage 2). */
  XN: 53,
} as const;

/** Stage-2 MemAttr[3:0] values Linux uses: Device-nGnRE, Normal NC, Normal WB, and WB forced with S2FWB. */
export const S2_MEMATTR_DEV = 0x1;
export const S2_MEMATTR_NC = 0x5;
export const S2_MEMATTR_FWB_WB = 0x6;
export const S2_MEMATTR_OIWB = 0xf;

/** Stage-1 AttrIndx values into LINUX_MAIR. */
export const MAIR_IDX_NC = 0;
export const MAIR_IDX_CACHE = 1;
export const MAIR_IDX_DEV = 2;
