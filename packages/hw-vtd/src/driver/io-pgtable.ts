// A radix I/O page table in host memory (kernel generic_pt iommu_pt.h): map, unmap, iova_to_phys, dirty bits.
import type { MapProgress } from '@iommu-lab/iommu-core';
import { ErrnoError, type FrameAllocator, type PhysMem, pfnOfEntry, tableIndex } from '@iommu-lab/platform';
import { LEAF_PS, type PtFormat } from './pt-format.js';

const SPAN = [1, 1, 512, 262144, 134217728, 68719476736];

function levelOf(pgsize: number): number {
  return pgsize === 4096 ? 1 : pgsize === 2 ** 21 ? 2 : pgsize === 2 ** 30 ? 3 : 0;
}

/** A leaf or table entry met by a visit, with its table level and the first IOVA page it covers. */
export type PtVisitor = (level: number, vpfn: number, lo: number, hi: number, leaf: boolean, pa: number) => void;

export class IoPageTable {
  readonly root: number;
  private readonly e = new Uint32Array(2);
  /** Table pages cleared by unmap, freed only after the IOTLB flush (the gather's freelist). */
  readonly freelist: number[] = [];
  /** IOVA pages the table can map: 2^(vasz - 12). */
  readonly limitPfn: number;

  constructor(
    private readonly mem: PhysMem,
    private readonly frames: FrameAllocator,
    readonly format: PtFormat,
    readonly levels: number,
    vaszLg2: number,
    private readonly oaszLg2 = 52,
  ) {
    this.root = frames.allocFrame();
    this.limitPfn = 2 ** (vaszLg2 - 12);
  }

  get rootPa(): number {
    return this.root * 4096;
  }

  private read(pa: number): boolean {
    this.mem.read64(pa, this.e);
    return (this.e[0]! & this.format.presentMask) !== 0;
  }

  private nextOf(): number {
    return pfnOfEntry(this.e[0]!, this.e[1]!);
  }

  /** The level-`level` table on the way to vpfn, created on demand; EADDRINUSE when a larger leaf is in the way. */
  private tableFor(vpfn: number, level: number): number {
    let table = this.root;
    for (let l = this.levels; l > level; l--) {
      const pa = table * 4096 + tableIndex(vpfn, l) * 8;
      if (!this.read(pa)) {
        const t = this.frames.allocFrame();
        this.mem.write64(pa, (((t % 1048576) * 4096) | this.format.tableLo) >>> 0, Math.floor(t / 1048576));
        table = t;
      } else {
        if ((this.e[0]! & LEAF_PS) !== 0) throw new ErrnoError('EADDRINUSE', 'ioctl', `IOVA page 0x${vpfn.toString(16)} is inside a larger mapping`);
        table = this.nextOf();
      }
    }
    return table;
  }

  /** map_pages: pgcount leaves of pgsize; progress.mapped counts what went in before an error. */
  map(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number, progress: MapProgress): void {
    const level = levelOf(pgsize);
    if (level === 0 || level > this.levels - 1) throw new ErrnoError('EINVAL', 'ioctl', `page size 0x${pgsize.toString(16)}`);
    if (iova % pgsize !== 0 || paddr % pgsize !== 0) throw new ErrnoError('EINVAL', 'ioctl', 'unaligned map');
    const [leafLo, leafHi] = this.format.leaf(prot);
    const span = SPAN[level]!;
    const first = iova / 4096;
    if (first + pgcount * span > this.limitPfn) throw new ErrnoError('ERANGE', 'ioctl', `IOVA 0x${iova.toString(16)} + 0x${(pgcount * pgsize).toString(16)} beyond the table`);
    if (paddr + pgcount * pgsize > 2 ** this.oaszLg2) throw new ErrnoError('ERANGE', 'ioctl', 'physical address beyond the output size');
    const psBit = level > 1 ? LEAF_PS : 0;
    let i = 0;
    while (i < pgcount) {
      const vpfn = first + i * span;
      const table = this.tableFor(vpfn, level);
      for (let k = tableIndex(vpfn, level); k < 512 && i < pgcount; k++, i++) {
        const pa = table * 4096 + k * 8;
        if (this.read(pa)) throw new ErrnoError('EADDRINUSE', 'ioctl', `IOVA 0x${((first + i * span) * 4096).toString(16)} is mapped`);
        const out = paddr / 4096 + i * span;
        this.mem.write64(pa, (((out % 1048576) * 4096) | leafLo | psBit) >>> 0, (Math.floor(out / 1048576) | leafHi) >>> 0);
        progress.mapped += pgsize;
      }
    }
  }

  /** Finds the leaf covering vpfn: its entry address and level, or -1 at a hole. */
  private findLeaf(vpfn: number): { pa: number; level: number } | null {
    let table = this.root;
    for (let l = this.levels; l >= 1; l--) {
      const pa = table * 4096 + tableIndex(vpfn, l) * 8;
      if (!this.read(pa)) return null;
      if (l === 1 || (this.e[0]! & LEAF_PS) !== 0) return { pa, level: l };
      table = this.nextOf();
    }
    return null;
  }

  /**
   * unmap_pages: clears leaves from iova for up to size bytes, stopping at a hole; a large leaf
   * is removed whole when iova starts it (EINVAL-like 0 when iova is inside it). Tables left
   * empty inside the range go to the freelist. Returns the bytes unmapped.
   */
  unmap(iova: number, size: number): number {
    let vpfn = iova / 4096;
    const end = vpfn + size / 4096;
    let done = 0;
    while (vpfn < end) {
      const leaf = this.findLeaf(vpfn);
      if (!leaf) break;
      const span = SPAN[leaf.level]!;
      if (vpfn % span !== 0) break;
      let pa = leaf.pa;
      let k = tableIndex(vpfn, leaf.level);
      while (vpfn < end && k < 512 && this.read(pa) && (leaf.level === 1 || (this.e[0]! & LEAF_PS) !== 0)) {
        this.mem.write64(pa, 0, 0);
        done += span * 4096;
        vpfn += span;
        k++;
        pa += 8;
      }
      if (k < 512 && vpfn < end && !this.read(pa)) break;
    }
    if (done > 0) this.freeEmpty(this.root, this.levels, 0, iova / 4096, iova / 4096 + done / 4096);
    return done;
  }

  /** Moves tables that are empty and wholly inside [lo, hi) to the freelist, clearing their parent entries. */
  private freeEmpty(table: number, level: number, base: number, lo: number, hi: number): boolean {
    let empty = true;
    const span = SPAN[level]!;
    for (let k = 0; k < 512; k++) {
      const pa = table * 4096 + k * 8;
      const va = base + k * span;
      if (!this.read(pa)) continue;
      if (level === 1 || (this.e[0]! & LEAF_PS) !== 0 || va + span <= lo || va >= hi) {
        empty = false;
        continue;
      }
      const child = this.nextOf();
      if (this.freeEmpty(child, level - 1, va, lo, hi) && va >= lo && va + span <= hi) {
        this.mem.write64(pa, 0, 0);
        this.freelist.push(child);
      } else {
        empty = false;
      }
    }
    return empty;
  }

  /** Returns the freed table pages to the allocator (after the IOTLB flush). */
  releaseFreelist(): void {
    for (const t of this.freelist.splice(0)) this.frames.put(t);
  }

  /** iova_to_phys: -1 when nothing is mapped. */
  iovaToPhys(iova: number): number {
    const vpfn = Math.floor(iova / 4096);
    const leaf = this.findLeaf(vpfn);
    if (!leaf) return -1;
    const span = SPAN[leaf.level]!;
    const out = this.nextOf();
    return (out - (out % span) + (vpfn % span)) * 4096 + (iova % 4096);
  }

  /** Visits every present entry under the root, depth first, leaves and tables alike. */
  walk(visit: PtVisitor, table = this.root, level = this.levels, base = 0): void {
    const span = SPAN[level]!;
    for (let k = 0; k < 512; k++) {
      const pa = table * 4096 + k * 8;
      if (!this.read(pa)) continue;
      const lo = this.e[0]!;
      const hi = this.e[1]!;
      const leaf = level === 1 || (lo & LEAF_PS) !== 0;
      visit(level, base + k * span, lo, hi, leaf, pa);
      if (!leaf) this.walk(visit, pfnOfEntry(lo, hi), level - 1, base + k * span);
    }
  }

  /** read_and_clear_dirty over [iova, iova + size): one record per dirty leaf; D cleared unless noClear. */
  readAndClearDirty(iova: number, size: number, noClear: boolean, record: (iova: number, length: number) => void): number {
    const lo = iova / 4096;
    const hi = lo + size / 4096;
    const d = this.format.dirtyLo;
    let cleared = 0;
    this.walk((level, vpfn, elo, ehi, leaf, pa) => {
      const span = SPAN[level]!;
      if (!leaf || vpfn + span <= lo || vpfn >= hi || (elo & d) === 0) return;
      record(vpfn * 4096, span * 4096);
      if (!noClear) {
        this.mem.write64(pa, (elo & ~d) >>> 0, ehi);
        cleared++;
      }
    });
    return cleared;
  }

  /** Frees every table page (domain free). */
  destroy(): void {
    const pages: number[] = [];
    this.walk((level, _v, lo, hi, leaf) => {
      if (!leaf && level > 1) pages.push(pfnOfEntry(lo, hi));
    });
    for (const p of pages) this.frames.put(p);
    this.frames.put(this.root);
    this.releaseFreelist();
  }
}
