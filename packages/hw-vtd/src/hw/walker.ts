// First- and second-stage page walks (VT-d spec 3.6, 3.7, 3.8): nested, with paging-structure caches.
import type { PhysMem } from '@iommu-lab/platform';
import * as FR from '../format/fault-reasons.js';
import { PSC_TABLE_W, PSC_U, PSC_W, PSC_XD, type VtdTlbs, fsPscTag, ssPscTag } from './tlbs.js';

/** Pages covered by one entry of a level-L table: 1, 512, 2^18, 2^27, 2^36 (index 0 unused). */
const SPAN = [1, 1, 512, 262144, 134217728, 68719476736];
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
  private readonly e = new Uint32Array(2);
  private readonly resHi: number;

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
  }

  private fail(reason: number, stage: number, level: number, pa: number): false {
    this.reason = reason;
    this.stage = stage;
    this.faultLevel = level;
    this.entryPa = pa;
    if (pa >= 0) {
      this.entryLo = this.e[0]!;
      this.entryHi = this.e[1]!;
    }
    return false;
  }

  /** Second stage from rootPfn (levels 3..5) for gpaPfn; sets A/D when ssade; result in ss*. */
  ssWalk(rootPfn: number, levels: number, gpaPfn: number, did: number, write: boolean, ssade: boolean): boolean {
    const mem = this.mem;
    const e = this.e;
    const psc = this.pscOn && !this.peek;
    let table = rootPfn;
    let perm = 3;
    let level = levels;
    if (psc) {
      for (let l = 2; l <= levels; l++) {
        const out = this.tlbs.ssPsc.lookup(ssPscTag(did, l), Math.floor(gpaPfn / SPAN[l]!));
        if (out >= 0) {
          table = out;
          perm = this.tlbs.ssPsc.perm();
          level = l - 1;
          break;
        }
      }
    }
    for (; level >= 1; level--) {
      const span = SPAN[level]!;
      const pa = table * 4096 + (Math.floor(gpaPfn / span) % 512) * 8;
      this.tableReads++;
      if (!mem.read64(pa, e)) {
        e[0] = 0;
        e[1] = 0;
        return this.fail(level === levels ? FR.VTD_FR_SM_SSPTPTR : FR.VTD_FR_SM_SS_ACCESS, STAGE_SECOND, level, pa);
      }
      let lo = e[0]!;
      const hi = e[1]!;
      if ((lo & 3) === 0) return this.fail(FR.VTD_FR_SM_SS_RW, STAGE_SECOND, level, pa);
      const leaf = level === 1 || (lo & PS) !== 0;
      if (
        (hi & this.resHi) !== 0 ||
        ((hi & SS_TM_HI) !== 0 && !(leaf && this.deviceTlb)) ||
        (leaf && level >= 4) ||
        (leaf && level === 3 && ((this.sslps & 2) === 0 || ((lo >>> 12) & 0x3ffff) !== 0)) ||
        (leaf && level === 2 && ((this.sslps & 1) === 0 || ((lo >>> 12) & 0x1ff) !== 0))
      ) {
        return this.fail(FR.VTD_FR_SM_SS_RSVD, STAGE_SECOND, level, pa);
      }
      perm &= lo & 3;
      if (ssade && !this.peek) {
        const want = (lo | SS_A | (leaf && write && (perm & 2) !== 0 ? SS_D : 0)) >>> 0;
        if (want !== lo) {
          mem.write64(pa, want, hi);
          this.adUpdates++;
          lo = want;
        }
      }
      const next = (hi & 0xfffff) * 1048576 + (lo >>> 12);
      if (leaf) {
        this.ssPfn = next - (next % span) + (gpaPfn % span);
        this.ssLevel = level;
        this.ssPerm = perm;
        this.ssDirty = (lo & SS_D) !== 0;
        this.ssLeafPa = pa;
        this.ssLeafLo = lo;
        this.ssLeafHi = hi;
        return true;
      }
      if (psc) this.tlbs.ssPsc.fill(ssPscTag(did, level), Math.floor(gpaPfn / span), next, 1, perm);
      table = next;
    }
    return this.fail(FR.VTD_FR_SM_SS_RW, STAGE_SECOND, 1, -1);
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
    const mem = this.mem;
    const e = this.e;
    const nested = ssLevels > 0;
    const psc = this.pscOn && !this.peek;
    // Nested: entry addresses are GPAs, bounded by the second stage (0x74), not by HAW.
    const resHi = nested ? 0 : this.resHi;
    let table = fsptPfn;
    let known = false;
    let w = true;
    let u = true;
    let xd = false;
    let tableW = true;
    let level = levels;
    this.tableGpaPfn = -1;
    if (psc) {
      for (let l = 2; l <= levels; l++) {
        const out = this.tlbs.fsPsc.lookup(fsPscTag(did, pasid, l), Math.floor(vaPfn / SPAN[l]!));
        if (out >= 0) {
          const pp = this.tlbs.fsPsc.perm();
          table = out;
          known = true;
          w = (pp & PSC_W) !== 0;
          u = (pp & PSC_U) !== 0;
          xd = (pp & PSC_XD) !== 0;
          tableW = (pp & PSC_TABLE_W) !== 0;
          level = l - 1;
          break;
        }
      }
    }
    for (; level >= 1; level--) {
      let hpa = table;
      if (nested && !known) {
        if (table >= ssLimitPfn) {
          this.tableGpaPfn = table;
          return this.fail(FR.VTD_FR_SM_FS_BEYOND_MGAW, STAGE_FIRST, level, -1);
        }
        if (!this.ssWalk(ssRootPfn, ssLevels, table, did, false, ssade)) {
          this.tableGpaPfn = table;
          return false;
        }
        if ((this.ssPerm & 1) === 0) {
          this.tableGpaPfn = table;
          return this.fail(level === levels ? FR.VTD_FR_SM_FS_TOP_NESTED_READ : FR.VTD_FR_SM_FS_NESTED_READ, STAGE_FIRST, level, -1);
        }
        hpa = this.ssPfn;
        tableW = (this.ssPerm & 2) !== 0;
        if (psc && level < levels) {
          const pp = (w ? PSC_W : 0) | (u ? PSC_U : 0) | (xd ? PSC_XD : 0) | (tableW ? PSC_TABLE_W : 0);
          this.tlbs.fsPsc.fill(fsPscTag(did, pasid, level + 1), Math.floor(vaPfn / SPAN[level + 1]!), hpa, 1, pp);
        }
      }
      known = false;
      const span = SPAN[level]!;
      const pa = hpa * 4096 + (Math.floor(vaPfn / span) % 512) * 8;
      this.tableReads++;
      if (!mem.read64(pa, e)) {
        e[0] = 0;
        e[1] = 0;
        return this.fail(level === levels ? FR.VTD_FR_SM_FSPTPTR : FR.VTD_FR_SM_FS_ACCESS, STAGE_FIRST, level, pa);
      }
      let lo = e[0]!;
      const hi = e[1]!;
      if ((lo & P) === 0) return this.fail(FR.VTD_FR_SM_FS_P, STAGE_FIRST, level, pa);
      const leaf = level === 1 || (lo & PS) !== 0;
      if (
        (hi & resHi) !== 0 ||
        (leaf && level >= 4) ||
        (leaf && level === 3 && (!this.fs1gp || ((lo >>> 13) & 0x1ffff) !== 0)) ||
        (leaf && level === 2 && ((lo >>> 13) & 0xff) !== 0)
      ) {
        return this.fail(FR.VTD_FR_SM_FS_RSVD, STAGE_FIRST, level, pa);
      }
      w &&= (lo & RW) !== 0;
      u &&= (lo & US) !== 0;
      xd ||= (hi & XD_HI) !== 0;
      if (leaf) {
        if (!req.priv && !u) return this.fail(FR.VTD_FR_SM_US, STAGE_FIRST, level, pa);
        if (req.write && !w && !(req.priv && !req.wpe)) return this.fail(FR.VTD_FR_SM_WRITE, STAGE_FIRST, level, pa);
        if (req.exec && xd) return this.fail(FR.VTD_FR_SM_EXEC, STAGE_FIRST, level, pa);
      }
      if (!this.peek) {
        const want = (lo | A | (req.eafe ? EA : 0) | (leaf && req.write ? D : 0)) >>> 0;
        if (want !== lo) {
          if (nested && !tableW) return this.fail(FR.VTD_FR_SM_FS_NESTED_WRITE, STAGE_FIRST, level, pa);
          mem.write64(pa, want, hi);
          this.adUpdates++;
          lo = want;
        }
      }
      const next = (hi & 0xfffff) * 1048576 + (lo >>> 12);
      if (leaf) {
        this.pfn = next - (next % span) + (vaPfn % span);
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
      if (psc && !nested) {
        const pp = (w ? PSC_W : 0) | (u ? PSC_U : 0) | (xd ? PSC_XD : 0) | PSC_TABLE_W;
        this.tlbs.fsPsc.fill(fsPscTag(did, pasid, level), Math.floor(vaPfn / span), next, 1, pp);
      }
      table = next;
    }
    return this.fail(FR.VTD_FR_SM_FS_P, STAGE_FIRST, 1, -1);
  }
}

