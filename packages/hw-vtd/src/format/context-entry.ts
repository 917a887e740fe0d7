// Scalable-mode context entry, 256 bits (VT-d spec 9.4): the PASID directory of one device function.
import { addr, aboveHaw, defineEntry, flag, num } from './bitfield.js';

export const ScalableContextEntry = defineEntry('ScalableContextEntry', 4, {
  present: flag(0, 0),
  fpd: flag(0, 1),
  dte: flag(0, 2),
  pasidEnable: flag(0, 3),
  pre: flag(0, 4),
  /** PDTS: the directory has 2^(PDTS + 7) entries. */
  pdts: num(0, 11, 9),
  pasidDirPtr: addr(0, 63, 12),
  ridPasid: num(1, 19, 0),
  ridPriv: flag(1, 20),
});

export const SM_CONTEXT_ENTRY_SIZE = 32;

/** Reserved: bits 8:5 and the address above HAW; 127:85; all of 255:128. */
export function contextEntryReserved(haw: number): bigint[] {
  return [0x1e0n | aboveHaw(haw), 0xffff_ffff_ffe0_0000n, 0xffff_ffff_ffff_ffffn, 0xffff_ffff_ffff_ffffn];
}

/** PASIDs a directory of PDTS covers: 2^(PDTS + 7) directory entries of 64 PASIDs each. */
export function pdtsMaxPasid(pdts: number): number {
  return 2 ** (pdts + 7) * 64;
}
