// A master's CD table in guest RAM (Linux arm_smmu_alloc_cd_tables, arm_smmu_alloc_cd_ptr): linear for up to
// 1024 contexts (or without IDR0.CD2L), else a level-1 table of 64 KiB leaves of 1024 CDs each.
import { STE_S1FMT_64K_L2, STE_S1FMT_LINEAR } from '@iommu-lab/hw-smmuv3/format';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestPageAllocator } from '../page-alloc.js';

/** CTXDESC_L2_ENTRIES: CDs per 64 KiB leaf. */
export const CTXDESC_L2_ENTRIES = 1024;
const CD_SIZE = 64;

export class GuestCdTable {
  readonly s1fmt: number;
  /** S1CDMax: log2 of the contexts (0 = one CD, no substreams). */
  readonly s1cdmax: number;
  /** The linear table or the level-1 table (STE.S1ContextPtr). */
  readonly gpa: number;
  private readonly l2 = new Map<number, number>();

  constructor(
    private readonly ram: GuestRam,
    private readonly pages: GuestPageAllocator,
    ssidBits: number,
    twoLevelCapable: boolean,
  ) {
    this.s1cdmax = ssidBits;
    const contexts = 2 ** ssidBits;
    if (!twoLevelCapable || contexts <= CTXDESC_L2_ENTRIES) {
      this.s1fmt = STE_S1FMT_LINEAR;
      this.gpa = pages.alloc(Math.ceil((contexts * CD_SIZE) / 4096));
    } else {
      this.s1fmt = STE_S1FMT_64K_L2;
      this.gpa = pages.alloc(Math.ceil((Math.ceil(contexts / CTXDESC_L2_ENTRIES) * 8) / 4096));
    }
  }

  /**
   * arm_smmu_get_cd_ptr / arm_smmu_alloc_cd_ptr: the GPA of the CD of `ssid`, or -1. Allocating a leaf writes
   * its level-1 descriptor (V | L2Ptr) and calls `l1Changed` (an invalid L1CD may be cached: CFGI_CD, not leaf).
   */
  cdPtr(ssid: number, alloc: boolean, l1Changed?: () => void): number {
    if (this.s1fmt === STE_S1FMT_LINEAR) return this.gpa + ssid * CD_SIZE;
    const idx = Math.floor(ssid / CTXDESC_L2_ENTRIES);
    let leaf = this.l2.get(idx);
    if (leaf === undefined) {
      if (!alloc) return -1;
      leaf = this.pages.alloc((CTXDESC_L2_ENTRIES * CD_SIZE) / 4096);
      this.l2.set(idx, leaf);
      this.ram.setU64(this.gpa + idx * 8, BigInt(leaf) | 1n);
      l1Changed?.();
    }
    return leaf + (ssid % CTXDESC_L2_ENTRIES) * CD_SIZE;
  }
}
