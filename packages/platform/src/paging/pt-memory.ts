// The memory a page-table walker reads: host physical memory, guest RAM, or a stage-2-translated view.

/**
 * 8-byte entry access by address. A walker over host RAM passes PhysMem; a nested walker passes
 * a view that translates each table address through stage 2 first (and may refuse a write).
 */
export interface PtMemory {
  /** Reads the entry at pa into out[0] (bits 31:0) and out[1] (bits 63:32); false when pa is not accessible. */
  read64(pa: number, out: Uint32Array): boolean;
  /** Writes an entry (hardware A/D updates, table builders); false when pa is not writable. */
  write64(pa: number, lo: number, hi: number): boolean;
}

/** Allocates a zeroed 4 KiB table page and returns its frame number (in the builder's address space). */
export type TableAllocator = () => number;

export const ENTRIES_PER_TABLE = 512;

/** Index into the table at `level` (1 = last level) for a page number, 9 bits per level. */
export function tableIndex(pfn: number, level: number): number {
  return Math.floor(pfn / 2 ** (9 * (level - 1))) % 512;
}
