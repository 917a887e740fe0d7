// A guest stage-1 DMA domain (Linux struct arm_smmu_domain with io-pgtable-arm ARM_64_LPAE_S1): an ASID and
// AArch64 4 KiB-granule tables in guest RAM. Map/unmap only edit the tables; invalidation is tlb.ts.
import { IOMMU_WRITE } from '@iommu-lab/iommu-core';
import { A64, A64PageTable } from '@iommu-lab/platform';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestPageAllocator } from '../page-alloc.js';

/** MAIR index io-pgtable gives cacheable (IOMMU_CACHE) mappings; inner-shareable. */
const MAIR_IDX_CACHE = 1;
const SH_IS = 3;

export class ArmSmmuDomain {
  readonly pt: A64PageTable;
  /** Largest leaf level the page sizes allow (3 = 4 KiB only, 2 = 2 MiB, 1 = 1 GiB). */
  readonly minLevel: number;
  /** StreamIDs of the masters attached (their ATC and CDs follow this domain). */
  readonly sids = new Set<number>();
  /** The largest leaf (bytes) unmapped since the last flush: the gather's pgsize. */
  gatherPgsize = 0;
  private large = false;
  private readonly w = new Uint32Array(2);

  constructor(
    private readonly ram: GuestRam,
    private readonly pages: GuestPageAllocator,
    readonly asid: number,
    /** io-pgtable's ias (min(48, VA_BITS)) and oas (the SMMU's). */
    readonly ias: number,
    readonly oas: number,
    /** pgsize_bitmap has 2 MiB and 1 GiB (IDR5.GRAN4K). */
    blocks: boolean,
  ) {
    this.pt = new A64PageTable(ram, () => pages.alloc(1) / 4096, { stage: 1, inputBits: ias });
    this.minLevel = blocks ? 1 : 3;
  }

  /** TTB0: the root table's GPA. */
  get pgd(): number {
    return this.pt.root * 4096;
  }

  /**
   * arm_lpae_map_pages: the largest leaves alignment allows; nG, EL0-accessible, read-only without WRITE.
   * Returns true when a block replaced an (empty) table, which was freed: the range needs a non-leaf
   * invalidation (arm_lpae_init_pte's unmap of the old table flushes the walk).
   */
  map(iovaPfn: number, gpaPfn: number, pages: number, prot: number): boolean {
    const write = (prot & IOMMU_WRITE) !== 0;
    let freed = false;
    for (let done = 0; done < pages; ) {
      const v = iovaPfn + done;
      const p = gpaPfn + done;
      let level: 1 | 2 | 3 = 3;
      for (let l = this.minLevel; l < 3; l++) {
        const span = 2 ** (9 * (3 - l));
        if (v % span === 0 && p % span === 0 && pages - done >= span) {
          level = l as 1 | 2;
          break;
        }
      }
      const lower = level < 3 ? this.lowerTable(v, level) : -1;
      if (level < 3) this.large = true;
      this.pt.map(v, p, level, { write, user: true, attrIndx: MAIR_IDX_CACHE, sh: SH_IS });
      if (lower >= 0) {
        this.freeTable(lower, level + 1);
        freed = true;
      }
      done += 2 ** (9 * (3 - level));
    }
    return freed;
  }

  /** The GPA of the table the level-`level` descriptor for `vpfn` points at, or -1; it must map nothing. */
  private lowerTable(vpfn: number, level: number): number {
    let table = this.pt.root;
    for (let l = this.pt.startLevel; l <= level; l++) {
      this.ram.read64(table * 4096 + (Math.floor(vpfn / 2 ** (9 * (3 - l))) % 512) * 8, this.w);
      if ((this.w[0]! & A64.VALID) === 0 || (this.w[0]! & A64.TABLE) === 0) return -1;
      table = (this.w[1]! & 0xffff) * 2 ** 20 + (this.w[0]! >>> 12);
    }
    if (this.mapsAnything(table * 4096, level + 1)) throw new RangeError(`map over live mappings at IOVA page 0x${vpfn.toString(16)} (EEXIST)`);
    return table * 4096;
  }

  private mapsAnything(gpa: number, level: number): boolean {
    for (let i = 0; i < 512; i++) {
      this.ram.read64(gpa + i * 8, this.w);
      if ((this.w[0]! & A64.VALID) === 0) continue;
      if (level === 3 || (this.w[0]! & A64.TABLE) === 0) return true;
      if (this.mapsAnything(((this.w[1]! & 0xffff) * 2 ** 20 + (this.w[0]! >>> 12)) * 4096, level + 1)) return true;
    }
    return false;
  }

  /** Gives a table page and the tables under it back to the guest allocator. */
  private freeTable(gpa: number, level: number): void {
    if (level < 3) {
      for (let i = 0; i < 512; i++) {
        this.ram.read64(gpa + i * 8, this.w);
        if (this.w[0]! & A64.VALID) this.freeTable(((this.w[1]! & 0xffff) * 2 ** 20 + (this.w[0]! >>> 12)) * 4096, level + 1);
      }
    }
    this.pages.free(gpa);
  }

  /** arm_lpae_unmap_pages: clears the leaves over the range; returns the pages that were mapped there. */
  unmap(iovaPfn: number, pages: number): number {
    let cleared = 0;
    for (let done = 0; done < pages; ) {
      const v = iovaPfn + done;
      const level = this.large ? this.leafLevel(v) : 3;
      const span = 2 ** (9 * (3 - level));
      if (this.pt.unmap(v - (v % span), level as 1 | 2 | 3)) {
        cleared += span;
        this.gatherPgsize = Math.max(this.gatherPgsize, span * 4096);
      }
      done += span - (v % span);
    }
    return cleared;
  }

  /** The level of the leaf that maps `vpfn` (3 when no block covers it). */
  private leafLevel(vpfn: number): number {
    let table = this.pt.root;
    for (let l = this.pt.startLevel; l < 3; l++) {
      const idx = Math.floor(vpfn / 2 ** (9 * (3 - l))) % 512;
      this.ram.read64(table * 4096 + idx * 8, this.w);
      const lo = this.w[0]!;
      if ((lo & A64.VALID) === 0) return 3;
      if ((lo & A64.TABLE) === 0) return l;
      table = (this.w[1]! & 0xffff) * 2 ** 20 + (lo >>> 12);
    }
    return 3;
  }
}
