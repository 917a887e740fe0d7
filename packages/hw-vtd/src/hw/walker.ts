// First- and second-stage page walks (VT-d spec 3.6, 3.7, 3.8): nested, with paging-structure caches.
import type { PhysMem } from '@iommu-lab/platform';
import * as FR from '../format/fault-reasons.js';
import { PSC_TABLE_W, PSC_U, PSC_W, PSC_XD, type VtdTlbs, fsPscTag, ssPscTag } from './tlbs.js';

/** Pages covered by one entry of a level-L table: 1, 512, 2^18, 2^27, 2^36 (index 0 unused). */
const SPAN = [1, 1, 512, 262144, 134217728, 68719476736];
const TWO32 = 4294967296;
const NO_CHUNK: Uint32Array = new Uint32Array(0);
// Table frames below 2 GiB take the int32 path for entry addresses (the JIT keeps it int32); larger ones the float path.

/** Index into the level-L table (9 bits at 9 * (L - 1)) of a page number split into u32 halves: integer ops only. */
function index(lo32: number, hi32: number, level: number): number {
  if (level < 4) return (lo32 >>> (9 * level - 9)) & 511;
  if (level === 4) return ((lo32 >>> 27) | (hi32 << 5)) & 511;
  return (hi32 >>> 4) & 511;
}
/** The frame an entry points at: address bits 51:12 of the entry, split into u32 halves. */
function entryPfn(lo: number, hi: number): number {
  return (hi & 0xfffff) === 0 ? lo >>> 12 : (hi & 0xfffff) * 1048576 + (lo >>> 12);
}

/** The frame of `pfn` inside the page a level-L leaf maps at `base`. */
function leafPfn(base: number, level: number, pfn: number): number {
  if (level === 1) return base;
  const span = SPAN[level]!;
  return Math.floor(base / span) * span + (pfn - Math.floor(pfn / span) * span);
}
export const STAGE_FIRST = 1;
export const STAGE_SECOND = 2;

const P = 1;
const RW = 2;
const US = 4;
const A = 0x20;
const D = 0x40;
const PS = 0x80;
const EA = 0x400;
const XD_HI = 0x8000_0000;
const SS_A = 0x100;
const SS_D = 0x200;
const SS_TM_HI = 0x4000_0000;

/** The request side of a first-stage walk. */
export interface FsRequest {
  write: boolean;
  /** A supervisor (privileged) request. */
  priv: boolean;
  exec: boolean;
  wpe: boolean;
  eafe: boolean;
}

/**
 * Walks tables in host memory and reports, without allocating, the output page, its size, the
 * combined permissions, or a fault with its reason, stage, level and entry. `peek` walks without
 * side effects (no A/D updates, no cache fills) for the missing-invalidation detector.
 */
export class PageWalker {
  pscOn = true;
  peek = false;
  tableReads = 0;
  adUpdates = 0;
  // Result of the last successful walk.
  pfn = 0;
  level = 0;
  fsWritable = false;
  fsUser = false;
  fsXd = false;
  fsDirty = false;
  ssPfn = 0;
  ssLevel = 0;
  ssPerm = 0;
  ssDirty = false;
  /** The leaf entries the last successful walks used (for the missing-invalidation detector). */
  fsLeafPa = -1;
  fsLeafLo = 0;
  fsLeafHi = 0;
  ssLeafPa = -1;
  ssLeafLo = 0;
  ssLeafHi = 0;
  // Fault of the last failed walk.
  reason = 0;
  stage = 0;
  faultLevel = 0;
  entryPa = -1;
  entryLo = 0;
  entryHi = 0;
  /** For a fault while translating a first-stage table through the second stage: the table's GPA page. */
  tableGpaPfn = -1;
  /** PhysMem's live chunk array: entry reads index it directly (the pointer-chasing path). */
  readonly chunks: readonly Uint32Array[];
  private readonly resHi: number;
  /** Reserved high-word bits of a non-leaf second-stage entry: above HAW, and TM. */
  readonly resHiTm: number;
  private startTable = 0;
  private nestSsRoot = 0;
  private nestSsLevels = 0;
  private nestDid = 0;
  private nestSsade = false;
  private curTableGpa = 0;
  private startPerm = 0;
  private startLevel = 0;

  constructor(
    private readonly mem: PhysMem,
    private readonly tlbs: VtdTlbs,
    haw: number,
    private readonly fs1gp: boolean,
    private readonly sslps: number,
    private readonly deviceTlb: boolean,
  ) {
    // Address bits HAW..51 live in bits (HAW - 32)..19 of the high word.
    this.resHi = haw >= 52 ? 0 : (0xfffff & ~((1 << (haw - 32)) - 1)) >>> 0;
    this.resHiTm = (this.resHi | SS_TM_HI) >>> 0;
    this.chunks = mem.chunks32;
  }

  private fail(reason: number, stage: number, level: number, pa: number): false {
    return this.failAt(reason, stage, level, pa, 0, 0);
  }

  /** A fault at the entry (lo, hi) at pa (pa -1: no entry was read). */
  private failAt(reason: number, stage: number, level: number, pa: number, lo: number, hi: number): false {
    this.reason = reason;
    this.stage = stage;
    this.faultLevel = level;
    this.entryPa = pa;
    this.entryLo = lo;
    this.entryHi = hi;
    return false;
  }

  /** Second stage from rootPfn (levels 3..5) for gpaPfn; sets A/D when ssade; result in ss*. */
  ssWalk(rootPfn: number, levels: number, gpaPfn: number, did: number, write: boolean, ssade: boolean): boolean {
    const mem = this.mem;
    const chunks = this.chunks;
    const psc = this.pscOn && !this.peek;
    let table = rootPfn;
    let perm = 3;
    let level = levels;
    if (psc && this.ssPscStart(levels, gpaPfn, did)) {
      table = this.startTable;
      perm = this.startPerm;
      level = this.startLevel;
    }
    const lo32 = gpaPfn >>> 0;
    const hi32 = gpaPfn < TWO32 ? 0 : Math.floor(gpaPfn / TWO32);
    const resHi = this.resHiTm;
    // Within one walk a chunk view cannot go stale: a table read from an untouched (zero) chunk is not present.
    let ci = -1;
    let c = NO_CHUNK;
    for (;;) {
      const idx = index(lo32, hi32, level);
      const nci = table < TWO32 ? table >>> 9 : -1;
      this.tableReads++;
      if (nci !== ci) {
        const x = chunks[nci];
        if (x === undefined) return this.fail(level === levels ? FR.VTD_FR_SM_SSPTPTR : FR.VTD_FR_SM_SS_ACCESS, STAGE_SECOND, level, table * 4096 + idx * 8);
        c = x;
        ci = nci;
      }
      const o = ((table & 511) << 10) | (idx << 1);
      let lo = c[o]!;
      const hi = c[o + 1]!;
      if ((lo & 3) === 0) return this.failAt(FR.VTD_FR_SM_SS_RW, STAGE_SECOND, level, table * 4096 + idx * 8, lo, hi);
      perm &= lo;
      if (level === 1 || (lo & PS) !== 0) return this.ssLeaf(table * 4096 + idx * 8, lo, hi, level, gpaPfn, perm & 3, write, ssade);
      if ((hi & resHi) !== 0) return this.failAt(FR.VTD_FR_SM_SS_RSVD, STAGE_SECOND, level, table * 4096 + idx * 8, lo, hi);
      if (ssade && (lo & SS_A) === 0 && !this.peek) {
        lo = (lo | SS_A) >>> 0;
        mem.write64(table * 4096 + idx * 8, lo, hi);
        this.adUpdates++;
      }
      const next = entryPfn(lo, hi);
      if (psc) this.tlbs.ssPsc.fill(ssPscTag(did, level), Math.floor(gpaPfn / SPAN[level]!), next, 1, perm & 3);
      table = next;
      level--;
    }
  }

  /**
   * The common second-stage walk, small enough for the JIT to inline: no caches, no A/D, 4 KiB
   * leaf. Anything else (a fault, a large page) returns false and the caller runs ssWalk.
   */
  ssQuick(rootPfn: number, levels: number, gpaPfn: number): boolean {
    const chunks = this.chunks;
    const lo32 = gpaPfn >>> 0;
    const hi32 = gpaPfn < TWO32 ? 0 : Math.floor(gpaPfn / TWO32);
    const resHi = this.resHiTm;
    let table = rootPfn;
    let perm = 3;
    let ci = -1;
    let c = NO_CHUNK;
    for (let level = levels; ; level--) {
      const idx = index(lo32, hi32, level);
      const nci = table < TWO32 ? table >>> 9 : -1;
      if (nci !== ci) {
        const x = chunks[nci];
        if (x === undefined) return false;
        c = x;
        ci = nci;
      }
      const o = ((table & 511) << 10) | (idx << 1);
      const lo = c[o]!;
      const hi = c[o + 1]!;
      if ((lo & 3) === 0 || (hi & resHi) !== 0) return false;
      perm &= lo;
      const next = entryPfn(lo, hi);
      if (level === 1) {
        this.tableReads += levels;
        this.ssPfn = next;
        this.ssLevel = 1;
        this.ssPerm = perm & 3;
        this.ssDirty = (lo & SS_D) !== 0;
        this.ssLeafPa = table * 4096 + idx * 8;
        this.ssLeafLo = lo;
        this.ssLeafHi = hi;
        return true;
      }
      if ((lo & PS) !== 0) return false;
      table = next;
    }
  }

  /** The deepest second-stage paging-structure cache hit, into start*. */
  private ssPscStart(levels: number, gpaPfn: number, did: number): boolean {
    const c = this.tlbs.ssPsc;
    for (let l = 2; l <= levels; l++) {
      const out = c.lookup(ssPscTag(did, l), Math.floor(gpaPfn / SPAN[l]!));
      if (out >= 0) {
        this.startTable = out;
        this.startPerm = c.perm();
        this.startLevel = l - 1;
        return true;
      }
    }
    return false;
  }

  /** A second-stage leaf: its reserved bits (large pages per SSLPS, TM only with device-TLBs), A/D, and the result. */
  private ssLeaf(pa: number, lo: number, hi: number, level: number, gpaPfn: number, perm: number, write: boolean, ssade: boolean): boolean {
    if (
      (hi & this.resHi) !== 0 ||
      ((hi & SS_TM_HI) !== 0 && !this.deviceTlb) ||
      level >= 4 ||
      (level === 3 && ((this.sslps & 2) === 0 || ((lo >>> 12) & 0x3ffff) !== 0)) ||
      (level === 2 && ((this.sslps & 1) === 0 || ((lo >>> 12) & 0x1ff) !== 0))
    ) {
      return this.failAt(FR.VTD_FR_SM_SS_RSVD, STAGE_SECOND, level, pa, lo, hi);
    }
    if (ssade && !this.peek) {
      const want = (lo | SS_A | (write && (perm & 2) !== 0 ? SS_D : 0)) >>> 0;
      if (want !== lo) {
        this.mem.write64(pa, want, hi);
        this.adUpdates++;
        lo = want;
      }
    }
    const next = entryPfn(lo, hi);
    this.ssPfn = leafPfn(next, level, gpaPfn);
    this.ssLevel = level;
    this.ssPerm = perm;
    this.ssDirty = (lo & SS_D) !== 0;
    this.ssLeafPa = pa;
    this.ssLeafLo = lo;
    this.ssLeafHi = hi;
    return true;
  }

  /**
   * First stage from fsptPfn (4 or 5 levels) for vaPfn (the canonical address's low 9 * levels
   * bits). When ssLevels > 0 the walk is nested: every table address and the output are GPAs
   * translated through the second stage at ssRootPfn, bounded by ssLimitPfn.
   */
  fsWalk(
    fsptPfn: number,
    levels: number,
    vaPfn: number,
    did: number,
    pasid: number,
    req: FsRequest,
    ssRootPfn: number,
    ssLevels: number,
    ssLimitPfn: number,
    ssade: boolean,
  ): boolean {
    const chunks = this.chunks;
    const nested = ssLevels > 0;
    const psc = this.pscOn && !this.peek;
    const quick = !psc && !ssade;
    // Nested: entry addresses are GPAs, bounded by the second stage (0x74), not by HAW.
    const resHi = nested ? 0 : this.resHi;
    let table = fsptPfn;
    let known = false;
    let acc = PSC_W | PSC_U | PSC_TABLE_W;
    let level = levels;
    this.tableGpaPfn = -1;
    const lo32 = vaPfn >>> 0;
    const hi32 = vaPfn < TWO32 ? 0 : Math.floor(vaPfn / TWO32);
    let ci = -1;
    let c = NO_CHUNK;
    this.nestSsRoot = ssRootPfn;
    this.nestSsLevels = ssLevels;
    this.nestDid = did;
    this.nestSsade = nested && ssade;
    // With SSADE the A/D writes into stage-1 tables dirty their stage-2 pages, which needs each table's GPA: no PSC start.
    if (psc && !this.nestSsade && this.fsPscStart(levels, vaPfn, did, pasid)) {
      table = this.startTable;
      acc = this.startPerm;
      level = this.startLevel;
      known = true;
    }
    for (;;) {
      let hpa = table;
      if (nested && !known) {
        this.curTableGpa = table;
        if (!(quick && table < ssLimitPfn && this.ssQuick(ssRootPfn, ssLevels, table) && (this.ssPerm & 1) !== 0)) {
          if (!this.fsTableThroughSs(table, level, levels, ssRootPfn, ssLevels, ssLimitPfn, did, ssade)) return false;
        }
        hpa = this.ssPfn;
        acc = (this.ssPerm & 2) !== 0 ? acc | PSC_TABLE_W : acc & ~PSC_TABLE_W;
        if (psc && level < levels) this.tlbs.fsPsc.fill(fsPscTag(did, pasid, level + 1), Math.floor(vaPfn / SPAN[level + 1]!), hpa, 1, acc);
      }
      known = false;
      const idx = index(lo32, hi32, level);
      const nci = hpa < TWO32 ? hpa >>> 9 : -1;
      this.tableReads++;
      if (nci !== ci) {
        const x = chunks[nci];
        if (x === undefined) return this.fail(level === levels ? FR.VTD_FR_SM_FSPTPTR : FR.VTD_FR_SM_FS_ACCESS, STAGE_FIRST, level, hpa * 4096 + idx * 8);
        c = x;
        ci = nci;
      }
      const o = ((hpa & 511) << 10) | (idx << 1);
      let lo = c[o]!;
      const hi = c[o + 1]!;
      if ((lo & P) === 0) return this.failAt(FR.VTD_FR_SM_FS_P, STAGE_FIRST, level, hpa * 4096 + idx * 8, lo, hi);
      acc &= ((lo & RW) !== 0 ? PSC_W : 0) | ((lo & US) !== 0 ? PSC_U : 0) | PSC_TABLE_W | PSC_XD;
      if ((hi & XD_HI) !== 0) acc |= PSC_XD;
      if (level === 1 || (lo & PS) !== 0) return this.fsLeaf(hpa * 4096 + idx * 8, lo, hi, level, vaPfn, acc, req, nested, resHi);
      if ((hi & resHi) !== 0) {
        return this.failAt(FR.VTD_FR_SM_FS_RSVD, STAGE_FIRST, level, hpa * 4096 + idx * 8, lo, hi);
      }
      if (!this.peek) {
        const want = (lo | A | (req.eafe ? EA : 0)) >>> 0;
        if (want !== lo) {
          if (nested && (acc & PSC_TABLE_W) === 0) return this.failAt(FR.VTD_FR_SM_FS_NESTED_WRITE, STAGE_FIRST, level, hpa * 4096 + idx * 8, lo, hi);
          if (this.nestSsade) this.dirtyTablePage();
          this.mem.write64(hpa * 4096 + idx * 8, want, hi);
          this.adUpdates++;
          lo = want;
        }
      }
      const next = entryPfn(lo, hi);
      if (psc && !nested) this.tlbs.fsPsc.fill(fsPscTag(did, pasid, level), Math.floor(vaPfn / SPAN[level]!), next, 1, acc);
      table = next;
      level--;
    }
  }

  /** Nested with SSADE: a hardware A/D write into a stage-1 table is a write through stage 2, so its SS leaf gets D. */
  private dirtyTablePage(): void {
    const { ssPfn, ssLevel, ssPerm, ssDirty, ssLeafPa, ssLeafLo, ssLeafHi } = this;
    this.ssWalk(this.nestSsRoot, this.nestSsLevels, this.curTableGpa, this.nestDid, true, true);
    Object.assign(this, { ssPfn, ssLevel, ssPerm, ssDirty, ssLeafPa, ssLeafLo, ssLeafHi });
  }

  /** The deepest first-stage paging-structure cache hit, into start*. */
  private fsPscStart(levels: number, vaPfn: number, did: number, pasid: number): boolean {
    const c = this.tlbs.fsPsc;
    for (let l = 2; l <= levels; l++) {
      const out = c.lookup(fsPscTag(did, pasid, l), Math.floor(vaPfn / SPAN[l]!));
      if (out >= 0) {
        this.startTable = out;
        this.startPerm = c.perm();
        this.startLevel = l - 1;
        return true;
      }
    }
    return false;
  }

  /** Nested: the second-stage translation of a first-stage table's GPA, which must be readable. */
  private fsTableThroughSs(table: number, level: number, levels: number, ssRootPfn: number, ssLevels: number, ssLimitPfn: number, did: number, ssade: boolean): boolean {
    if (table >= ssLimitPfn) {
      this.fail(FR.VTD_FR_SM_FS_BEYOND_MGAW, STAGE_FIRST, level, -1);
      this.tableGpaPfn = table;
      return false;
    }
    if (!this.ssWalk(ssRootPfn, ssLevels, table, did, false, ssade)) {
      this.tableGpaPfn = table;
      return false;
    }
    if ((this.ssPerm & 1) === 0) {
      this.fail(level === levels ? FR.VTD_FR_SM_FS_TOP_NESTED_READ : FR.VTD_FR_SM_FS_NESTED_READ, STAGE_FIRST, level, -1);
      this.tableGpaPfn = table;
      return false;
    }
    return true;
  }

  /** A first-stage leaf: reserved bits (1 GiB per FS1GP), the request's permissions, A/D, and the result. */
  private fsLeaf(pa: number, lo: number, hi: number, level: number, vaPfn: number, acc: number, req: FsRequest, nested: boolean, resHi: number): boolean {
    if (
      (hi & resHi) !== 0 ||
      level >= 4 ||
      (level === 3 && (!this.fs1gp || ((lo >>> 13) & 0x1ffff) !== 0)) ||
      (level === 2 && ((lo >>> 13) & 0xff) !== 0)
    ) {
      return this.failAt(FR.VTD_FR_SM_FS_RSVD, STAGE_FIRST, level, pa, lo, hi);
    }
    const w = (acc & PSC_W) !== 0;
    const u = (acc & PSC_U) !== 0;
    const xd = (acc & PSC_XD) !== 0;
    if (!req.priv && !u) return this.failAt(FR.VTD_FR_SM_US, STAGE_FIRST, level, pa, lo, hi);
    if (req.write && !w && !(req.priv && !req.wpe)) return this.failAt(FR.VTD_FR_SM_WRITE, STAGE_FIRST, level, pa, lo, hi);
    if (req.exec && xd) return this.failAt(FR.VTD_FR_SM_EXEC, STAGE_FIRST, level, pa, lo, hi);
    if (!this.peek) {
      const want = (lo | A | (req.eafe ? EA : 0) | (req.write ? D : 0)) >>> 0;
      if (want !== lo) {
        if (nested && (acc & PSC_TABLE_W) === 0) return this.failAt(FR.VTD_FR_SM_FS_NESTED_WRITE, STAGE_FIRST, level, pa, lo, hi);
        if (this.nestSsade) this.dirtyTablePage();
        this.mem.write64(pa, want, hi);
        this.adUpdates++;
        lo = want;
      }
    }
    const next = entryPfn(lo, hi);
    this.pfn = leafPfn(next, level, vaPfn);
    this.level = level;
    this.fsWritable = w;
    this.fsUser = u;
    this.fsXd = xd;
    this.fsDirty = (lo & D) !== 0;
    this.fsLeafPa = pa;
    this.fsLeafLo = lo;
    this.fsLeafHi = hi;
    return true;
  }
}
