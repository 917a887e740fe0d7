// SMMU_IDR0..IDR5, SMMU_IIDR and SMMU_AIDR (IHI0070 6.3.1-6.3.6): what an implementation supports.
import { defineReg32 } from './bitfield.js';

// IHI0070 6.3.1 SMMU_IDR0
export const Idr0 = defineReg32('SMMU_IDR0', {
  s2p: [0, 0],
  s1p: [1, 1],
  ttf: [3, 2],
  cohacc: [4, 4],
  btm: [5, 5],
  httu: [7, 6],
  dormhint: [8, 8],
  hyp: [9, 9],
  ats: [10, 10],
  ns1ats: [11, 11],
  asid16: [12, 12],
  msi: [13, 13],
  sev: [14, 14],
  atos: [15, 15],
  pri: [16, 16],
  vmw: [17, 17],
  vmid16: [18, 18],
  cd2l: [19, 19],
  vatos: [20, 20],
  ttendian: [22, 21],
  atsrecerr: [23, 23],
  stallModel: [25, 24],
  termModel: [26, 26],
  stLevel: [28, 27],
  rmeImpl: [30, 30],
});

export const IDR0_TTF_AARCH32 = 1;
export const IDR0_TTF_AARCH64 = 2;
export const IDR0_HTTU_NONE = 0;
export const IDR0_HTTU_ACCESS = 1;
export const IDR0_HTTU_ACCESS_DIRTY = 2;
export const IDR0_TTENDIAN_MIXED = 0;
export const IDR0_TTENDIAN_LE = 2;
export const IDR0_TTENDIAN_BE = 3;
/** STALL_MODEL: 0 stall and terminate, 1 terminate only, 2 stall forced. */
export const IDR0_STALL_MODEL_STALL = 0;
export const IDR0_STALL_MODEL_TERMINATE = 1;
export const IDR0_STALL_MODEL_FORCE = 2;
export const IDR0_ST_LEVEL_LINEAR = 0;
export const IDR0_ST_LEVEL_2LVL = 1;

// IHI0070 6.3.2 SMMU_IDR1 (queue sizes are log2 of the number of entries)
export const Idr1 = defineReg32('SMMU_IDR1', {
  sidsize: [5, 0],
  ssidsize: [10, 6],
  priqs: [15, 11],
  eventqs: [20, 16],
  cmdqs: [25, 21],
  attrPermsOvr: [26, 26],
  attrTypesOvr: [27, 27],
  rel: [28, 28],
  queuesPreset: [29, 29],
  tablesPreset: [30, 30],
  ecmdq: [31, 31],
});

// IHI0070 6.3.3 SMMU_IDR2
export const Idr2 = defineReg32('SMMU_IDR2', { baVatos: [9, 0] });

// IHI0070 6.3.4 SMMU_IDR3
export const Idr3 = defineReg32('SMMU_IDR3', {
  had: [2, 2],
  pbha: [3, 3],
  xnx: [4, 4],
  pps: [5, 5],
  mpam: [7, 7],
  fwb: [8, 8],
  stt: [9, 9],
  ril: [10, 10],
  bbml: [12, 11],
  e0pd: [13, 13],
  ptwnnc: [14, 14],
  dpt: [15, 15],
});

// IHI0070 6.3.6 SMMU_IDR5
export const Idr5 = defineReg32('SMMU_IDR5', {
  oas: [2, 0],
  gran4k: [4, 4],
  gran16k: [5, 5],
  gran64k: [6, 6],
  ds: [7, 7],
  vax: [11, 10],
  stallMax: [31, 16],
});

// IHI0070 6.3.7 SMMU_IIDR
export const Iidr = defineReg32('SMMU_IIDR', {
  implementer: [11, 0],
  revision: [15, 12],
  variant: [19, 16],
  productId: [31, 20],
});

// IHI0070 6.3.8 SMMU_AIDR: 0x00 is SMMUv3.0, 0x01 SMMUv3.1, 0x02 SMMUv3.2.
export const Aidr = defineReg32('SMMU_AIDR', { archMinorRev: [3, 0], archMajorRev: [7, 4] });

/** Address sizes of the 3-bit OAS/IPS/PS encodings (IDR5.OAS, CD.IPS, STE.S2PS). */
export const ADDR_SIZE_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52];

/** The encoding of an address size in bits, or -1 when it has none. */
export function addrSizeEncoding(bits: number): number {
  return ADDR_SIZE_BITS.indexOf(bits);
}

/** The bits of an encoding; reserved encodings (7) read as the largest size, 52. */
export function addrSizeBits(enc: number): number {
  return ADDR_SIZE_BITS[Math.min(enc, 6)]!;
}
