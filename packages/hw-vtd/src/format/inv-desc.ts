// Queued invalidation descriptors (VT-d spec 6.5.2): type in bits 3:0 and 11:9 of qword 0; 256-bit in scalable mode.
import { addr, defineEntry, flag, num } from './bitfield.js';

export const QI_CC_TYPE = 0x1;
export const QI_IOTLB_TYPE = 0x2;
export const QI_DIOTLB_TYPE = 0x3;
export const QI_IEC_TYPE = 0x4;
export const QI_IWD_TYPE = 0x5;
export const QI_EIOTLB_TYPE = 0x6;
export const QI_PC_TYPE = 0x7;
export const QI_DEIOTLB_TYPE = 0x8;
export const QI_PGRP_RESP_TYPE = 0x9;

const ALL = 0xffff_ffff_ffff_ffffn;
const type = num(0, 3, 0);

/** 6.5.2.1 Context-cache invalidate: G 1 global, 2 domain, 3 device (SID with function mask FM). */
export const ContextCacheInvDesc = defineEntry('ContextCacheInvDesc', 4, {
  type,
  g: num(0, 5, 4),
  did: num(0, 31, 16),
  sid: num(0, 47, 32),
  fm: num(0, 49, 48),
});

/** 6.5.2.2 PASID-cache invalidate: G 0 domain-selective, 1 PASID-selective within domain, 3 global. */
export const PasidCacheInvDesc = defineEntry('PasidCacheInvDesc', 4, {
  type,
  g: num(0, 5, 4),
  did: num(0, 31, 16),
  pasid: num(0, 51, 32),
});

/** 6.5.2.3 IOTLB invalidate: G 1 global, 2 domain-selective, 3 page-selective (2^AM pages at ADDR, IH = leaf only). */
export const IotlbInvDesc = defineEntry('IotlbInvDesc', 4, {
  type,
  g: num(0, 5, 4),
  dw: flag(0, 6),
  dr: flag(0, 7),
  did: num(0, 31, 16),
  am: num(1, 5, 0),
  ih: flag(1, 6),
  addr: addr(1, 63, 12),
});

/** 6.5.2.4 PASID-based IOTLB invalidate: G 2 all of a PASID, 3 page-selective within the PASID. */
export const PasidIotlbInvDesc = defineEntry('PasidIotlbInvDesc', 4, {
  type,
  g: num(0, 5, 4),
  did: num(0, 31, 16),
  pasid: num(0, 51, 32),
  am: num(1, 5, 0),
  ih: flag(1, 6),
  addr: addr(1, 63, 12),
});

/** 6.5.2.5 Device-TLB invalidate: S = 1 encodes the size in the lowest clear bit of ADDR. */
export const DevTlbInvDesc = defineEntry('DevTlbInvDesc', 4, {
  type,
  pfsidLo: num(0, 15, 12),
  mip: num(0, 20, 16),
  sid: num(0, 47, 32),
  pfsidHi: num(0, 63, 52),
  s: flag(1, 0),
  addr: addr(1, 63, 12),
});

/** 6.5.2.6 PASID-based device-TLB invalidate: G = 1 all PASIDs. */
export const PasidDevTlbInvDesc = defineEntry('PasidDevTlbInvDesc', 4, {
  type,
  mip: num(0, 8, 4),
  pfsidLo: num(0, 15, 12),
  sid: num(0, 31, 16),
  pasid: num(0, 51, 32),
  pfsidHi: num(0, 63, 52),
  g: flag(1, 0),
  s: flag(1, 11),
  addr: addr(1, 63, 12),
});

/** 6.5.2.7 Interrupt entry cache invalidate. */
export const IecInvDesc = defineEntry('IecInvDesc', 4, {
  type,
  g: flag(0, 4),
  im: num(0, 31, 27),
  iidx: num(0, 47, 32),
});

/** 6.5.2.8 Invalidation wait: IF interrupt, SW status write of STATUS_DATA to STATUS_ADDR, FN fence, PD page-request drain. */
export const InvWaitDesc = defineEntry('InvWaitDesc', 4, {
  type,
  if: flag(0, 4),
  sw: flag(0, 5),
  fn: flag(0, 6),
  pd: flag(0, 7),
  statusData: num(0, 63, 32),
  statusAddr: addr(1, 63, 2),
});

/** 7.7.1 Page group response: answers a page request group (PRGI) of a RID/PASID; qwords 2-3 carry private data. */
export const PageGroupResponseDesc = defineEntry('PageGroupResponseDesc', 4, {
  type,
  pasidPresent: flag(0, 4),
  respCode: num(0, 15, 12),
  rid: num(0, 31, 16),
  pasid: num(0, 51, 32),
  lpig: flag(1, 2),
  prgi: num(1, 11, 3),
  privateData0: addr(2, 63, 0),
  privateData1: addr(3, 63, 0),
});

/** Reserved bits of each qword, by descriptor type (qwords 2-3 are reserved in every type but the page group response). */
export const INV_DESC_RESERVED: Readonly<Record<number, readonly bigint[]>> = {
  [QI_CC_TYPE]: [0xfffc_0000_0000_f1c0n, ALL, ALL, ALL],
  [QI_IOTLB_TYPE]: [0xffff_ffff_0000_f100n, 0xf80n, ALL, ALL],
  [QI_DIOTLB_TYPE]: [0x000f_0000_ffe0_01f0n, 0xffen, ALL, ALL],
  [QI_IEC_TYPE]: [0xffff_0000_07ff_f1e0n, ALL, ALL, ALL],
  [QI_IWD_TYPE]: [0x0000_0000_ffff_f100n, 0x3n, ALL, ALL],
  [QI_EIOTLB_TYPE]: [0xfff0_0000_0000_f1c0n, 0xf80n, ALL, ALL],
  [QI_PC_TYPE]: [0xfff0_0000_0000_f1c0n, ALL, ALL, ALL],
  [QI_DEIOTLB_TYPE]: [0n, 0x7fen, ALL, ALL],
  [QI_PGRP_RESP_TYPE]: [0xfff0_0000_0000_01e0n, 0xffff_ffff_ffff_f003n, 0n, 0n],
};

/** The full descriptor type: bits 3:0 plus bits 11:9 as bits 6:4. */
export function invDescType(qw0: bigint): number {
  return Number(qw0 & 0xfn) | (Number((qw0 >> 9n) & 7n) << 4);
}

export const QI_DESC_NAMES: Readonly<Record<number, string>> = {
  [QI_CC_TYPE]: 'Context-cache Invalidation',
  [QI_IOTLB_TYPE]: 'IOTLB Invalidation',
  [QI_DIOTLB_TYPE]: 'Device-TLB Invalidation',
  [QI_IEC_TYPE]: 'Interrupt Entry Cache Invalidation',
  [QI_IWD_TYPE]: 'Invalidation Wait',
  [QI_EIOTLB_TYPE]: 'PASID-based IOTLB Invalidation',
  [QI_PC_TYPE]: 'PASID-cache Invalidation',
  [QI_DEIOTLB_TYPE]: 'PASID-based Device-TLB Invalidation',
  [QI_PGRP_RESP_TYPE]: 'Page Group Response',
};
