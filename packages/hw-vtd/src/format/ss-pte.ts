// Second-stage paging entry (VT-d spec 9.8): no present bit, an entry is present when R or W is set.
import { addr, defineEntry, flag, num } from './bitfield.js';

const codec = defineEntry('SsPte', 1, {
  read: flag(0, 0),
  write: flag(0, 1),
  exec: flag(0, 2),
  emt: num(0, 5, 3),
  ipat: flag(0, 6),
  /** PS: a 2 MiB (SS-PDE) or 1 GiB (SS-PDPE) leaf. */
  pageSize: flag(0, 7),
  accessed: flag(0, 8),
  dirty: flag(0, 9),
  snp: flag(0, 11),
  addr: addr(0, 51, 12),
  tm: flag(0, 62),
});

export type SsPteFields = ReturnType<typeof codec.decode>;

export const SsPte = {
  name: codec.name,
  decode(v: bigint): SsPteFields {
    return codec.decode([v]);
  },
  encode(f: Partial<SsPteFields>): bigint {
    return codec.encode(f)[0]!;
  },
};

/** Low-word bits of a second-stage entry for the hot paths. */
export const SS = {
  R: 1 << 0,
  W: 1 << 1,
  X: 1 << 2,
  PS: 1 << 7,
  A: 1 << 8,
  D: 1 << 9,
  SNP: 1 << 11,
  /** TM is bit 62: bit 30 of the high word. */
  TM_HI: 1 << 30,
} as const;
