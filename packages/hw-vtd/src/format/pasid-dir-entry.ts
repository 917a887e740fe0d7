// Scalable-mode PASID directory entry, 64 bits (VT-d spec 9.5): one PASID table of 64 entries, index PASID[19:6].
import { addr, aboveHaw, defineEntry, flag } from './bitfield.js';

export const PasidDirEntry = defineEntry('PasidDirEntry', 1, {
  present: flag(0, 0),
  fpd: flag(0, 1),
  pasidTablePtr: addr(0, 63, 12),
});

export const PASID_PDE_SHIFT = 6;
export const PASID_DIR_ENTRY_SIZE = 8;

/** Reserved: bits 11:2 and the address above HAW. */
export function pasidDirEntryReserved(haw: number): bigint[] {
  return [0xffcn | aboveHaw(haw)];
}
