// Scalable-mode PASID table entry, 512 bits (VT-d spec 9.6): translation type and both stages of one PASID.
import { addr, aboveHaw, defineEntry, flag, num } from './bitfield.js';

export const PasidEntry = defineEntry('PasidEntry', 8, {
  present: flag(0, 0),
  fpd: flag(0, 1),
  /** AW: second-stage levels - 2 (1 = 39-bit, 2 = 48-bit, 3 = 57-bit). */
  aw: num(0, 4, 2),
  ssee: flag(0, 5),
  pgtt: num(0, 8, 6),
  ssade: flag(0, 9),
  ssptptr: addr(0, 63, 12),
  did: num(1, 15, 0),
  pwsnp: flag(1, 23),
  pgsnp: flag(1, 24),
  cd: flag(1, 25),
  emte: flag(1, 26),
  emt: num(1, 29, 27),
  pwt: flag(1, 30),
  pcd: flag(1, 31),
  pat: num(1, 63, 32),
  sre: flag(2, 0),
  ere: flag(2, 1),
  /** FSPM: 0 = 4-level, 1 = 5-level first stage. */
  fspm: num(2, 3, 2),
  wpe: flag(2, 4),
  nxe: flag(2, 5),
  smep: flag(2, 6),
  eafe: flag(2, 7),
  fsptptr: addr(2, 63, 12),
});

export const PASID_ENTRY_SIZE = 64;

/** PGTT values (9.6). */
export const PASID_ENTRY_PGTT_FL_ONLY = 1;
export const PASID_ENTRY_PGTT_SL_ONLY = 2;
export const PASID_ENTRY_PGTT_NESTED = 3;
export const PASID_ENTRY_PGTT_PT = 4;

/** Reserved: 11:10 and SSPTPTR above HAW; 86:80; 139:136 and FSPTPTR above HAW; all of 511:192. */
export function pasidEntryReserved(haw: number): bigint[] {
  const all = 0xffff_ffff_ffff_ffffn;
  return [0xc00n | aboveHaw(haw), 0x7f_0000n, 0xf00n | aboveHaw(haw), all, all, all, all, all];
}
