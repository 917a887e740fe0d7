// Context Descriptor: 64 bytes, eight little-endian u64 dwords (IHI0070 5.4), and the L1 CD descriptor (5.3).
import { defineDwords } from './bitfield.js';

// IHI0070 5.4 CD
export const Cd = defineDwords('CD', 8, {
  t0sz: [0, 5, 0],
  tg0: [0, 7, 6],
  ir0: [0, 9, 8],
  or0: [0, 11, 10],
  sh0: [0, 13, 12],
  epd0: [0, 14, 14],
  endi: [0, 15, 15],
  t1sz: [0, 21, 16],
  tg1: [0, 23, 22],
  ir1: [0, 25, 24],
  or1: [0, 27, 26],
  sh1: [0, 29, 28],
  epd1: [0, 30, 30],
  v: [0, 31, 31],
  ips: [0, 34, 32],
  affd: [0, 35, 35],
  wxn: [0, 36, 36],
  uwxn: [0, 37, 37],
  tbi: [0, 39, 38],
  pan: [0, 40, 40],
  aa64: [0, 41, 41],
  hd: [0, 42, 42],
  ha: [0, 43, 43],
  s: [0, 44, 44],
  r: [0, 45, 45],
  a: [0, 46, 46],
  aset: [0, 47, 47],
  asid: [0, 63, 48],
  nscfg0: [1, 0, 0],
  had0: [1, 1, 1],
  ttb0: [1, 51, 4, 'addr'],
  hwu0: [1, 63, 60],
  nscfg1: [2, 0, 0],
  had1: [2, 1, 1],
  ttb1: [2, 51, 4, 'addr'],
  hwu1: [2, 63, 60],
  mair: [3, 63, 0, 'u64'],
  amair: [4, 63, 0, 'u64'],
  impdef: [5, 63, 0, 'u64'],
  partid: [6, 15, 0],
  pmg: [6, 39, 32],
});

/** TG0: 0 = 4 KiB, 1 = 64 KiB, 2 = 16 KiB. TG1: 1 = 16 KiB, 2 = 4 KiB, 3 = 64 KiB. */
export const CD_TG0_4K = 0;
export const CD_TG1_4K = 2;

/** Linux's MAIR (io-pgtable-arm): idx0 0x44 Normal-NC, idx1 0xff WBRWA, idx2 0x04 Device-nGnRE, idx3 0xf4. */
export const LINUX_MAIR = 0xf404ff44n;

// IHI0070 5.3 Level-1 Context Descriptor: bit 0 V, [51:12] L2Ptr
export const L1Cd = defineDwords('L1CD', 1, { v: [0, 0, 0], l2ptr: [0, 51, 12, 'addr'] });

export const CD_SIZE = 64;
