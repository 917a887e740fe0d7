// Stream Table Entry: 64 bytes, eight little-endian u64 dwords (IHI0070 5.2).
import { defineDwords } from './bitfield.js';

// IHI0070 5.2 STE dwords 0-3 (4-7: secure stage 2, MPAM and VMS pointer, unused here)
export const Ste = defineDwords('STE', 8, {
  v: [0, 0, 0],
  config: [0, 3, 1],
  s1fmt: [0, 5, 4],
  s1ContextPtr: [0, 51, 6, 'addr'],
  s1cdmax: [0, 63, 59],
  s1dss: [1, 1, 0],
  s1cir: [1, 3, 2],
  s1cor: [1, 5, 4],
  s1csh: [1, 7, 6],
  s2hwu: [1, 11, 8],
  dre: [1, 12, 12],
  cont: [1, 16, 13],
  dcp: [1, 17, 17],
  ppar: [1, 18, 18],
  mev: [1, 19, 19],
  s2fwb: [1, 25, 25],
  s1stalld: [1, 27, 27],
  eats: [1, 29, 28],
  strw: [1, 31, 30],
  memattr: [1, 35, 32],
  mtcfg: [1, 36, 36],
  alloccfg: [1, 40, 37],
  shcfg: [1, 45, 44],
  nscfg: [1, 47, 46],
  privcfg: [1, 49, 48],
  instcfg: [1, 51, 50],
  s2vmid: [2, 15, 0],
  s2t0sz: [2, 37, 32],
  s2sl0: [2, 39, 38],
  s2ir0: [2, 41, 40],
  s2or0: [2, 43, 42],
  s2sh0: [2, 45, 44],
  s2tg: [2, 47, 46],
  s2ps: [2, 50, 48],
  s2aa64: [2, 51, 51],
  s2endi: [2, 52, 52],
  s2affd: [2, 53, 53],
  s2ptw: [2, 54, 54],
  s2hd: [2, 55, 55],
  s2ha: [2, 56, 56],
  s2s: [2, 57, 57],
  s2r: [2, 58, 58],
  s2ttb: [3, 51, 4, 'addr'],
});

/** STE.Config: 0b0xx abort (0b001-0b011 reserved), 0b100 bypass, 0b101 S1, 0b110 S2, 0b111 nested. */
export const STE_CFG_ABORT = 0;
export const STE_CFG_BYPASS = 4;
export const STE_CFG_S1_TRANS = 5;
export const STE_CFG_S2_TRANS = 6;
export const STE_CFG_NESTED = 7;

/** STE.S1Fmt: linear CD table, or 2-level with 4 KiB (64 CDs) or 64 KiB (1024 CDs) leaf tables. */
export const STE_S1FMT_LINEAR = 0;
export const STE_S1FMT_4K_L2 = 1;
export const STE_S1FMT_64K_L2 = 2;

/** STE.S1DSS: traffic without a SubstreamID is terminated, bypasses stage 1, or uses CD 0. */
export const STE_S1DSS_TERMINATE = 0;
export const STE_S1DSS_BYPASS = 1;
export const STE_S1DSS_SSID0 = 2;

/** STE.EATS: ATS translation requests aborted, full ATS, or split-stage ATS. */
export const STE_EATS_ABT = 0;
export const STE_EATS_TRANS = 1;
export const STE_EATS_S1CHK = 2;

export const STE_STRW_NSEL1 = 0;
export const STE_STRW_EL2 = 2;
export const STE_SHCFG_INCOMING = 1;

/** S2TG: 0 = 4 KiB, 1 = 64 KiB, 2 = 16 KiB. */
export const STE_S2TG_4K = 0;

/** The STE fields user space may set in a vSTE (STRTAB_STE_0/1_NESTING_ALLOWED of arm-smmu-v3.h). */
export const STE_0_NESTING_ALLOWED = 0xf80f_ffff_ffff_ffffn;
export const STE_1_NESTING_ALLOWED = 0x3800_00ffn;

export const STE_CONFIG_NAMES: Readonly<Record<number, string>> = {
  0: 'abort',
  1: 'reserved',
  2: 'reserved',
  3: 'reserved',
  4: 'bypass',
  5: 's1-translate',
  6: 's2-translate',
  7: 'nested',
};
