// Scalable-mode root entry, 128 bits (VT-d spec 9.2): lower half for devfn 0x00-0x7f, upper half for 0x80-0xff.
import { addr, aboveHaw, defineEntry, flag } from './bitfield.js';

export const RootEntry = defineEntry('RootEntry', 2, {
  lowerPresent: flag(0, 0),
  lowerCtp: addr(0, 63, 12),
  upperPresent: flag(1, 0),
  upperCtp: addr(1, 63, 12),
});

export const ROOT_ENTRY_SIZE = 16;

/** Reserved bits of each half: 11:1 and the address bits at and above HAW. */
export function rootEntryReserved(haw: number): bigint[] {
  const m = 0xffen | aboveHaw(haw);
  return [m, m];
}
