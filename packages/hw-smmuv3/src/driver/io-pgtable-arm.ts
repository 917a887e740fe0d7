// The driver's AArch64 LPAE tables (drivers/iommu/io-pgtable-arm.c), 4 KiB granule: ARM_64_LPAE_S1 and _S2.
import type { FrameAllocator, PhysMem } from '@iommu-lab/platform';
import { ErrnoError } from '@iommu-lab/platform';
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE, type MapProgress } from '@iommu-lab/iommu-core';
import { LINUX_MAIR } from '../format/cd.js';
import { addrSizeEncoding } from '../format/idr.js';
import { MAIR_IDX_CACHE, MAIR_IDX_DEV, S2_MEMATTR_DEV, S2_MEMATTR_FWB_WB, S2_MEMATTR_NC, S2_MEMATTR_OIWB } from '../format/pte.js';

export type PgtableFmt = 'ARM_64_LPAE_S1' | 'ARM_64_LPAE_S2';

export interface PgtableCfg {
  fmt: PgtableFmt;
  /** Input and output address sizes in bits. */
  ias: number;
  oas: number;
  coherentWalk: boolean;
  /** IO_PGTABLE_QUIRK_ARM_HD (stage 1 dirty tracking) and IO_PGTABLE_QUIRK_ARM_S2FWB. */
  quirkHd?: boolean;
  quirkS2fwb?: boolean;
}

export const PGSIZES_4K = [4096, 2 ** 21, 2 ** 30];
/** Pages per entry at each level. */
const SPAN = [134217728, 262144, 512, 1];
const AP_RDONLY = 1 << 7;
const DBM_HI = 1 << 19;

/** Level of a leaf of `pgsize` bytes (3 = 4 KiB page, 2 = 2 MiB block, 1 = 1 GiB block). */
function levelOf(pgsize: number): number {
  return pgsize === 4096 ? 3 : pgsize === 2 ** 21 ? 2 : 1;
}

export class IoPgtableArm {
  readonly fmt: PgtableFmt;
  readonly ias: number;
  readonly oas: number;
  readonly startLevel: number;
  /** Index bits resolved by the first table (with stage-2 concatenation). */
  readonly pgdBits: number;
  readonly rootPfn: number;
  readonly quirkHd: boolean;
  readonly quirkS2fwb: boolean;
  private readonly pgdOrder: number;
  private readonly buf = new Uint32Array(2);

  constructor(
    private readonly mem: PhysMem,
    private readonly frames: FrameAllocator,
    private readonly cfg: PgtableCfg,
    /** io_pgtable_tlb_flush_walk: a table was removed, walk caches over [iova, iova + size) must go. */
    private readonly flushWalk: (iova: number, size: number) => void,
  ) {
    this.fmt = cfg.fmt;
    this.ias = Math.min(cfg.ias, 48);
    this.oas = Math.min(cfg.oas, 48);
    this.quirkHd = cfg.quirkHd ?? false;
    this.quirkS2fwb = cfg.quirkS2fwb ?? false;
    const vaBits = this.ias - 12;
    const levels = Math.ceil(vaBits / 9);
    let start = 4 - levels;
    let pgdBits = vaBits - 9 * (levels - 1);
    // arm_lpae_concat_mandatory for 4 KiB: a level-0 start with a 40- or 42-bit PA uses level 1 instead
    if (this.fmt === 'ARM_64_LPAE_S2' && start === 0 && (this.oas === 40 || this.oas === 42)) {
      pgdBits += 9;
      start++;
    }
    this.startLevel = start;
    this.pgdBits = pgdBits;
    this.pgdOrder = Math.max(0, pgdBits + 3 - 12);
    this.rootPfn = frames.alloc(this.pgdOrder);
  }

  /** The CD's TCR fields and MAIR (arm_64_lpae_alloc_pgtable_s1). */
  s1Tcr(): { tsz: number; tg: number; irgn: number; orgn: number; sh: number; ips: number; mair: bigint } {
    const c = this.cfg.coherentWalk;
    return { tsz: 64 - this.ias, tg: 0, irgn: c ? 1 : 0, orgn: c ? 1 : 0, sh: c ? 3 : 2, ips: addrSizeEncoding(this.oas), mair: LINUX_MAIR };
  }

  /** The STE's VTCR fields (arm_64_lpae_alloc_pgtable_s2): SL0 = ~(start level + 1) & 3 for 4 KiB. */
  s2Vtcr(): { tsz: number; sl: number; irgn: number; orgn: number; sh: number; tg: number; ps: number } {
    const c = this.cfg.coherentWalk;
    return { tsz: 64 - this.ias, sl: ~(this.startLevel + 1) & 3, irgn: c ? 1 : 0, orgn: c ? 1 : 0, sh: c ? 3 : 2, tg: 0, ps: addrSizeEncoding(this.oas) };
  }

  /** arm_lpae_prot_to_pte: the attribute bits (low word, high word) of a leaf for IOMMU_* prot. */
  protToPte(prot: number): [number, number] {
    let lo = 1 << 10; // AF
    let hi = 0;
    if (this.fmt === 'ARM_64_LPAE_S1') {
      lo |= 1 << 11; // nG
      if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) lo |= AP_RDONLY;
      else if (this.quirkHd) hi |= DBM_HI;
      if (!(prot & IOMMU_PRIV)) lo |= 1 << 6; // AP_UNPRIV
      if (prot & IOMMU_MMIO) lo |= MAIR_IDX_DEV << 2;
      else if (prot & IOMMU_CACHE) lo |= MAIR_IDX_CACHE << 2;
    } else {
      if (prot & IOMMU_READ) lo |= 1 << 6;
      if (prot & IOMMU_WRITE) lo |= 1 << 7;
      const memattr = prot & IOMMU_MMIO ? S2_MEMATTR_DEV : prot & IOMMU_CACHE ? (this.quirkS2fwb ? S2_MEMATTR_FWB_WB : S2_MEMATTR_OIWB) : S2_MEMATTR_NC;
      lo |= memattr << 2;
    }
    lo |= (prot & IOMMU_CACHE ? 3 : 2) << 8; // SH IS or OS
    if (prot & IOMMU_NOEXEC) hi |= 3 << 21; // XN (54:53)
    return [lo >>> 0, hi];
  }

  /** arm_lpae_map_pages: maps pgcount leaves of pgsize; EEXIST over a mapping, ERANGE beyond ias/oas. */
  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number, progress: MapProgress): void {
    if (!PGSIZES_4K.includes(pgsize)) throw new ErrnoError('EINVAL', 'io-pgtable-arm', `page size 0x${pgsize.toString(16)}`);
    if (iova >= 2 ** this.ias || paddr + pgsize * pgcount > 2 ** this.oas) throw new ErrnoError('ERANGE', 'io-pgtable-arm', `iova 0x${iova.toString(16)} or pa 0x${paddr.toString(16)} out of range`);
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) throw new ErrnoError('EINVAL', 'io-pgtable-arm', 'neither IOMMU_READ nor IOMMU_WRITE');
    const [attrLo, attrHi] = this.protToPte(prot);
    const level = levelOf(pgsize);
    const leafType = level === 3 ? 3 : 1;
    let table = -1;
    for (let i = 0; i < pgcount; i++) {
      const inPfn = (iova + i * pgsize) / 4096;
      const index = this.index(inPfn, level);
      // one walk per table, as __arm_lpae_map fills a table's run of entries
      if (table < 0 || index === 0) table = this.tableFor(inPfn, level, true);
      const at = table * 4096 + index * 8;
      this.mem.read64(at, this.buf);
      if (this.buf[0]! & 1) {
        if (level === 3 || (this.buf[0]! & 2) === 0) throw new ErrnoError('EEXIST', 'io-pgtable-arm', `iova 0x${(inPfn * 4096).toString(16)} is mapped`);
        this.removeTable(at, inPfn, level);
      }
      const outPfn = (paddr + i * pgsize) / 4096;
      this.mem.write64(at, ((outPfn % 1048576) * 4096 + attrLo + leafType) >>> 0, (Math.floor(outPfn / 1048576) | attrHi) >>> 0);
      progress.mapped += pgsize;
    }
  }

  /** arm_lpae_unmap_pages: leaves of pgsize from iova until a hole; a partial block or a hole first is 0. */
  unmapPages(iova: number, pgsize: number, pgcount: number, onUnmap: (iova: number, size: number) => void): number {
    if (!PGSIZES_4K.includes(pgsize) || pgcount === 0 || iova >= 2 ** this.ias) return 0;
    const level = levelOf(pgsize);
    // the loop stops at the end of this table, so one walk finds it
    const table = this.tableFor(iova / 4096, level, false);
    if (table < 0) return 0;
    let done = 0;
    for (let i = 0; i < pgcount; i++) {
      const inPfn = (iova + i * pgsize) / 4096;
      const at = table * 4096 + this.index(inPfn, level) * 8;
      this.mem.read64(at, this.buf);
      if ((this.buf[0]! & 1) === 0) break;
      if (level < 3 && (this.buf[0]! & 2) !== 0) this.removeTable(at, inPfn, level);
      else this.mem.write64(at, 0, 0);
      onUnmap(inPfn * 4096, pgsize);
      done += pgsize;
      if (i + 1 < pgcount && this.index(inPfn + SPAN[level]!, level) === 0) break;
    }
    return done;
  }

  /** arm_lpae_iova_to_phys: the physical address, or -1 when nothing is mapped. */
  iovaToPhys(iova: number): number {
    if (iova < 0 || iova >= 2 ** this.ias) return -1;
    const inPfn = Math.floor(iova / 4096);
    let table = this.rootPfn;
    for (let level = this.startLevel; level <= 3; level++) {
      this.mem.read64(table * 4096 + this.index(inPfn, level) * 8, this.buf);
      const lo = this.buf[0]!;
      if ((lo & 1) === 0) return -1;
      const next = (this.buf[1]! & 0xffff) * 1048576 + (lo >>> 12);
      if (level < 3 && (lo & 2) !== 0) {
        table = next;
        continue;
      }
      const span = SPAN[level]!;
      return (next - (next % span) + (inPfn % span)) * 4096 + (iova % 4096);
    }
    return -1;
  }

  /** Stage-1 dirty bits (arm_lpae_read_and_clear_dirty): writable-dirty leaves are reported and made writable-clean. */
  readAndClearDirty(iova: number, size: number, noClear: boolean, record: (iova: number, length: number) => void): void {
    this.forEachLeaf(iova, iova + size, (at, lo, hi, base, length) => {
      if ((hi & DBM_HI) === 0 || (lo & AP_RDONLY) !== 0) return;
      record(base, length);
      if (!noClear) this.mem.write64(at, (lo | AP_RDONLY) >>> 0, hi);
    });
  }

  /** Every valid leaf overlapping [start, end): its entry address, words, input address and size. */
  forEachLeaf(start: number, end: number, fn: (at: number, lo: number, hi: number, iova: number, size: number) => void): void {
    const visit = (table: number, level: number, base: number) => {
      const bits = level === this.startLevel ? this.pgdBits : 9;
      const bytes = SPAN[level]! * 4096;
      for (let i = 0; i < 2 ** bits; i++) {
        const iova = base + i * bytes;
        if (iova + bytes <= start || iova >= end) continue;
        const at = table * 4096 + i * 8;
        this.mem.read64(at, this.buf);
        const lo = this.buf[0]!;
        const hi = this.buf[1]!;
        if ((lo & 1) === 0) continue;
        if (level < 3 && (lo & 2) !== 0) visit((hi & 0xffff) * 1048576 + (lo >>> 12), level + 1, iova);
        else fn(at, lo, hi, iova, bytes);
      }
    };
    visit(this.rootPfn, this.startLevel, 0);
  }

  /** Frees every table (__arm_lpae_free_pgtable). */
  free(): void {
    this.freeTable(this.rootPfn, this.startLevel, this.pgdOrder);
  }

  private index(inPfn: number, level: number): number {
    const bits = level === this.startLevel ? this.pgdBits : 9;
    return Math.floor(inPfn / SPAN[level]!) % 2 ** bits;
  }

  /** The table holding level-`level` entries for inPfn; creates missing tables, or -1 (and EEXIST over a block). */
  private tableFor(inPfn: number, level: number, create: boolean): number {
    let table = this.rootPfn;
    for (let l = this.startLevel; l < level; l++) {
      const at = table * 4096 + this.index(inPfn, l) * 8;
      this.mem.read64(at, this.buf);
      const lo = this.buf[0]!;
      if ((lo & 1) === 0) {
        if (!create) return -1;
        const t = this.frames.allocFrame();
        this.mem.write64(at, ((t % 1048576) * 4096 + 3) >>> 0, Math.floor(t / 1048576));
        table = t;
        continue;
      }
      if ((lo & 2) === 0) {
        if (create) throw new ErrnoError('EEXIST', 'io-pgtable-arm', `a level-${l} block covers iova 0x${(inPfn * 4096).toString(16)}`);
        return -1;
      }
      table = (this.buf[1]! & 0xffff) * 1048576 + (lo >>> 12);
    }
    return table;
  }

  /** A table entry replaced or unmapped: clear it, flush walks over its span, free the subtree. */
  private removeTable(at: number, inPfn: number, level: number): void {
    this.mem.read64(at, this.buf);
    const sub = (this.buf[1]! & 0xffff) * 1048576 + (this.buf[0]! >>> 12);
    this.mem.write64(at, 0, 0);
    const span = SPAN[level]!;
    this.flushWalk((inPfn - (inPfn % span)) * 4096, span * 4096);
    this.freeTable(sub, level + 1, 0);
  }

  private freeTable(pfn: number, level: number, order: number): void {
    if (level < 3) {
      const bits = level === this.startLevel ? this.pgdBits : 9;
      const b = new Uint32Array(2);
      for (let i = 0; i < 2 ** bits; i++) {
        this.mem.read64(pfn * 4096 + i * 8, b);
        if ((b[0]! & 3) === 3) this.freeTable((b[1]! & 0xffff) * 1048576 + (b[0]! >>> 12), level + 1, 0);
      }
    }
    for (let i = 0; i < 2 ** order; i++) this.frames.put(pfn + i);
  }
}
