// A guest DMA paging domain (Linux struct dmar_domain): its DID, a first-stage (x86-64) or second-stage (VT-d SS)
// table in guest RAM, and the page sizes the unit allows. Map/unmap only edit the table; flushing is cache.ts.
import { IOMMU_READ, IOMMU_WRITE } from '@iommu-lab/iommu-core';
import { X86PageTable } from '@iommu-lab/platform';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import { SsPageTable } from './ss-pgtable.js';

export type DomainStage = 'first' | 'second';

export class DmarDomain {
  private readonly fs: X86PageTable | null;
  private readonly ss: SsPageTable | null;
  /** Largest leaf level the unit allows (1 = 4 KiB only, 2 = 2 MiB, 3 = 1 GiB). */
  readonly maxLevel: number;
  /** Set once a leaf above 4 KiB was installed: unmap then has to find the leaf level. */
  private large = false;
  /** Devices (guest SIDs) attached to the domain; each has an IOTLB cache tag (DID, PASID 0). */
  readonly sids = new Set<number>();
  private readonly w = new Uint32Array(2);

  constructor(
    readonly did: number,
    readonly stage: DomainStage,
    private readonly ram: GuestRam,
    private readonly pages: GuestPageAllocator,
    /** Second stage: 3 or 4 levels (the unit's agaw); first stage: 4. */
    readonly levels: number,
    maxLevel: number,
  ) {
    const alloc = () => pages.alloc(1) / 4096;
    this.fs = stage === 'first' ? new X86PageTable(ram, alloc, 4) : null;
    this.ss = stage === 'second' ? new SsPageTable(ram, alloc, levels) : null;
    this.maxLevel = maxLevel;
  }

  /** The GPA of the top-level table (FSPTPTR or SSPTPTR). */
  get pgd(): number {
    return (this.fs ? this.fs.root : this.ss!.root) * 4096;
  }

  /**
   * Maps `pages` pages at iovaPfn -> gpaPfn with the largest leaves alignment allows. Returns true when a large
   * leaf replaced an (empty) lower table, which was freed: the caller must flush the range with IH = 0, as
   * generic_pt's map_range does ("table levels were freed and replaced with large items").
   */
  map(iovaPfn: number, gpaPfn: number, pages: number, prot: number): boolean {
    const write = (prot & IOMMU_WRITE) !== 0;
    let freed = false;
    for (let done = 0; done < pages; ) {
      const v = iovaPfn + done;
      const p = gpaPfn + done;
      let level: 1 | 2 | 3 = 1;
      for (let l = this.maxLevel; l > 1; l--) {
        const span = 2 ** (9 * (l - 1));
        if (v % span === 0 && p % span === 0 && pages - done >= span) {
          level = l as 2 | 3;
          break;
        }
      }
      const lower = level > 1 ? this.lowerTable(v, level) : -1;
      if (level > 1) this.large = true;
      // Linux generic_pt: an x86-64 leaf is P|U|A (+RW|D when writable); a VT-d SS leaf carries R/W.
      if (this.fs) this.fs.map(v, p, level, { user: true, accessed: true, write, dirty: write });
      else this.ss!.map(v, p, level, (prot & IOMMU_READ) !== 0 || !write, write);
      if (lower >= 0) {
        this.freeTable(lower, level - 1);
        freed = true;
      }
      done += 2 ** (9 * (level - 1));
    }
    return freed;
  }

  /** clear_contig: the GPA of the table under the level-`level` entry for v (-1 if none); it must map nothing. */
  private lowerTable(v: number, level: number): number {
    const e = this.fs ? this.fs.entry(v, level) : this.ss!.entry(v, level);
    if (!e || (e[0] & (this.fs ? 1 : 3)) === 0 || (e[0] & 0x80) !== 0) return -1;
    const table = (e[1] & 0xfffff) * 2 ** 32 + (e[0] >>> 12) * 4096;
    if (this.mapsAnything(table, level - 1)) throw new RangeError(`map over live mappings at IOVA page 0x${v.toString(16)} (EADDRINUSE)`);
    return table;
  }

  private mapsAnything(table: number, level: number): boolean {
    for (let i = 0; i < 512; i++) {
      this.ram.read64(table + i * 8, this.w);
      if ((this.w[0]! & (this.fs ? 1 : 3)) === 0) continue;
      if (level === 1 || (this.w[0]! & 0x80) !== 0) return true;
      if (this.mapsAnything((this.w[1]! & 0xfffff) * 2 ** 32 + (this.w[0]! >>> 12) * 4096, level - 1)) return true;
    }
    return false;
  }

  /** Gives a table page and the tables under it back to the guest allocator. */
  private freeTable(table: number, level: number): void {
    if (level > 1) {
      for (let i = 0; i < 512; i++) {
        this.ram.read64(table + i * 8, this.w);
        if ((this.w[0]! & (this.fs ? 1 : 3)) !== 0) this.freeTable((this.w[1]! & 0xfffff) * 2 ** 32 + (this.w[0]! >>> 12) * 4096, level - 1);
      }
    }
    this.pages.free(table);
  }

  /** Clears the leaves over [iovaPfn, iovaPfn + pages); returns how many pages were mapped there. */
  unmap(iovaPfn: number, pages: number): number {
    let cleared = 0;
    for (let done = 0; done < pages; ) {
      const v = iovaPfn + done;
      const level = this.large ? this.leafLevel(v) : 1;
      const span = 2 ** (9 * (level - 1));
      const ok = this.fs ? this.fs.unmap(v - (v % span), level as 1 | 2 | 3) : this.ss!.unmap(v - (v % span), level as 1 | 2 | 3);
      if (ok) cleared += span;
      done += span - (v % span);
    }
    return cleared;
  }

  /** The level of the leaf that maps vaPfn (1 when nothing larger does). */
  private leafLevel(vaPfn: number): number {
    for (let l = 3; l > 1; l--) {
      const e = this.fs ? this.fs.entry(vaPfn - (vaPfn % 2 ** (9 * (l - 1))), l) : this.ss!.entry(vaPfn - (vaPfn % 2 ** (9 * (l - 1))), l);
      const present = e !== null && (this.fs ? (e[0] & 1) !== 0 : (e[0] & 3) !== 0);
      if (present && (e![0] & 0x80) !== 0) return l;
      if (!present) return 1;
    }
    return 1;
  }
}
