// First-stage paging entry (VT-d spec 9.7): the x86-64 format (the platform's X86Pte) plus EA at bit 10 when PASID.EAFE = 1.
import { X86Pte, type X86PteFields } from '@iommu-lab/platform';

export interface FsPteFields extends X86PteFields {
  /** EA: extended accessed, set by hardware with A when the PASID entry has EAFE. */
  extendedAccessed: boolean;
}

export const FsPte = {
  name: 'FsPte',
  decode(v: bigint): FsPteFields {
    return { ...X86Pte.decode(v), extendedAccessed: ((v >> 10n) & 1n) === 1n };
  },
  encode(f: Partial<FsPteFields>): bigint {
    return X86Pte.encode(f) | (f.extendedAccessed ? 1n << 10n : 0n);
  },
};

/** EA (bit 10) in the low word. */
export const FS_EA = 1 << 10;
