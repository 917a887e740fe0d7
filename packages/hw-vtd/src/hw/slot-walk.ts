// One translation below a cached PASID entry (VT-d spec 3.6-3.8): dispatch by PGTT, combine both stages' results.
import * as FR from '../format/fault-reasons.js';
import { PASID_ENTRY_PGTT_NESTED, PASID_ENTRY_PGTT_SL_ONLY } from '../format/pasid-entry.js';
import { PE_EAFE, PE_SSADE, PE_WPE, type PasidCache } from './pasid-cache.js';
import { quickNested, quickOut } from './quick-walk.js';
import { TLB_DIRTY, TLB_R, TLB_U, TLB_W, TLB_X } from './tlbs.js';
import { type FsRequest, type PageWalker, STAGE_FIRST, STAGE_SECOND } from './walker.js';

const TWO52 = 2 ** 52;
const FS_P = 0x1;
const FS_A = 0x20;
const FS_EA = 0x400;
/** Pages a 4- or 5-level first stage translates: 2^36, 2^45 (index = levels). */
const FS_SPAN = [0, 0, 0, 0, 2 ** 36, 2 ** 45];

/** Where a translation fault was found: the stage of the paging structures, or the request itself. */
export type WalkStage = 'first' | 'second' | 'request';

export class SlotWalk {
  pfn = 0;
  level = 0;
  perm = 0;
  reason = 0;
  stage: WalkStage = 'request';
  faultLevel = 0;
  entryPa = -1;
  entryLo = 0;
  entryHi = 0;
  tableGpaPfn = -1;
  private readonly req: FsRequest = { write: false, priv: false, exec: false, wpe: false, eafe: false };
  /** Second-stage input limit in pages for 3/4/5 levels: min(2^(9 * levels), 2^(MGAW - 12)). */
  private readonly ssLimit: number[] = [];

  constructor(
    readonly walker: PageWalker,
    private readonly pc: PasidCache,
    mgaw: number,
  ) {
    for (let l = 0; l <= 5; l++) this.ssLimit.push(Math.min(2 ** (9 * l), 2 ** (mgaw - 12)));
  }

  private fail(reason: number, stage: WalkStage, level: number): false {
    this.reason = reason;
    this.stage = stage;
    this.faultLevel = level;
    this.entryPa = -1;
    this.tableGpaPfn = -1;
    return false;
  }

  private walkerFault(): false {
    const w = this.walker;
    this.reason = w.reason;
    this.stage = w.stage === STAGE_FIRST ? 'first' : w.stage === STAGE_SECOND ? 'second' : 'request';
    this.faultLevel = w.faultLevel;
    this.entryPa = w.entryPa;
    this.entryLo = w.entryLo;
    this.entryHi = w.entryHi;
    this.tableGpaPfn = w.tableGpaPfn;
    return false;
  }

  /** Final second-stage permission check of an SS-only or nested translation. */
  private ssAccess(write: boolean): boolean {
    const sp = this.walker.ssPerm;
    if (write && (sp & 2) === 0) return this.fail(FR.VTD_FR_SM_WRITE, 'second', this.walker.ssLevel);
    if (!write && (sp & 1) === 0) return this.fail(FR.VTD_FR_SM_READ, 'second', this.walker.ssLevel);
    return true;
  }

  /** Translates iovaPfn below PASID-cache `slot` (PGTT first-stage, second-stage or nested). */
  run(slot: number, pasid: number, iovaPfn: number, write: boolean, exec: boolean, priv: boolean): boolean {
    const pc = this.pc;
    const w = this.walker;
    const pgtt = pc.pgtt[slot]!;
    const did = pc.did[slot]!;
    const flags = pc.flags[slot]!;
    const ssade = (flags & PE_SSADE) !== 0;
    const ssLevels = pc.ssLevels[slot]!;
    if (pgtt === PASID_ENTRY_PGTT_SL_ONLY) {
      if (iovaPfn >= this.ssLimit[ssLevels]!) return this.fail(FR.VTD_FR_SM_BEYOND_MAX, 'request', 0);
      if (!w.ssWalk(pc.ssptPfn[slot]!, ssLevels, iovaPfn, did, write, ssade)) return this.walkerFault();
      if (!this.ssAccess(write)) return false;
      const sp = w.ssPerm;
      this.pfn = w.ssPfn;
      this.level = w.ssLevel;
      this.perm = (sp & 1 ? TLB_R : 0) | (sp & 2 ? TLB_W : 0) | TLB_X | TLB_U | (!ssade || w.ssDirty ? TLB_DIRTY : 0);
      return true;
    }
    const fsLevels = pc.fsLevels[slot]!;
    const vaSpan = FS_SPAN[fsLevels]!;
    const half = vaSpan / 2;
    if (iovaPfn >= half && iovaPfn < TWO52 - half) return this.fail(FR.VTD_FR_SM_NON_CANONICAL, 'request', 0);
    const nested = pgtt === PASID_ENTRY_PGTT_NESTED;
    const limit = nested ? this.ssLimit[ssLevels]! : 0;
    // The canonical address's low 9 * levels bits: the upper half sits just below 2^52 pages.
    const va = iovaPfn < half ? iovaPfn : iovaPfn - (TWO52 - vaSpan);
    if (nested && !ssade && !exec && !w.pscOn && !w.peek) {
      const needA = FS_P | FS_A | ((flags & PE_EAFE) !== 0 ? FS_EA : 0);
      if (quickNested(w.chunks, w.resHiTm, pc.fsptPfn[slot]!, fsLevels, va, pc.ssptPfn[slot]!, ssLevels, limit, write, !priv, needA)) {
        const acc = quickOut.fsAcc;
        const sp = quickOut.ssPerm;
        w.tableReads += quickOut.reads;
        this.pfn = quickOut.pfn;
        this.level = 1;
        this.perm = (sp & 1 ? TLB_R : 0) | (acc & 1 && sp & 2 ? TLB_W : 0) | (acc & 4 ? 0 : TLB_X) | (acc & 2 ? TLB_U : 0) | (quickOut.fsDirty ? TLB_DIRTY : 0);
        return true;
      }
    }
    const req = this.req;
    req.write = write;
    req.priv = priv;
    req.exec = exec;
    req.wpe = (flags & PE_WPE) !== 0;
    req.eafe = (flags & PE_EAFE) !== 0;
    if (!w.fsWalk(pc.fsptPfn[slot]!, fsLevels, va, did, pasid, req, pc.ssptPfn[slot]!, nested ? ssLevels : 0, limit, ssade)) {
      return this.walkerFault();
    }
    const fsPerm = (w.fsXd ? 0 : TLB_X) | (w.fsUser ? TLB_U : 0);
    if (!nested) {
      this.pfn = w.pfn;
      this.level = w.level;
      this.perm = TLB_R | (w.fsWritable ? TLB_W : 0) | fsPerm | (w.fsDirty ? TLB_DIRTY : 0);
      return true;
    }
    const gpa = w.pfn;
    const fsLevel = w.level;
    const fsWritable = w.fsWritable;
    const fsDirty = w.fsDirty;
    if (gpa >= limit) return this.fail(FR.VTD_FR_SM_FS_BEYOND_MGAW, 'first', fsLevel);
    const quick = !ssade && !w.pscOn;
    if (!(quick && w.ssQuick(pc.ssptPfn[slot]!, ssLevels, gpa)) && !w.ssWalk(pc.ssptPfn[slot]!, ssLevels, gpa, did, write, ssade)) return this.walkerFault();
    if (!this.ssAccess(write)) return false;
    const sp = w.ssPerm;
    this.pfn = w.ssPfn;
    this.level = Math.min(fsLevel, w.ssLevel);
    this.perm = (sp & 1 ? TLB_R : 0) | (fsWritable && sp & 2 ? TLB_W : 0) | fsPerm | (fsDirty && (!ssade || w.ssDirty) ? TLB_DIRTY : 0);
    return true;
  }
}
