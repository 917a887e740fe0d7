// The VT-d remapping hardware unit: registers, caches, the translation of DMA requests, fault recording.
import { DMA_ATS, DMA_EXEC, DMA_PRIV, DMA_WRITE, type DmaFaultInfo, type DmaTranslator, type PageRequest, type PciDevice, type PhysMem, Tracer, type Tracepoint } from '@iommu-lab/platform';
import { capMgaw, VtdCap, VtdEcap } from '../format/cap.js';
import * as FR from '../format/fault-reasons.js';
import { DMAR_PECTL_REG } from '../format/page-request.js';
import { PASID_ENTRY_PGTT_PT, PASID_ENTRY_PGTT_SL_ONLY } from '../format/pasid-entry.js';
import * as R from '../format/registers.js';
import { CONTEXT_NEGATIVE, ContextCache, CTX_FPD, CTX_PASIDE, CTX_PRE, CTX_RID_PRIV } from './context-cache.js';
import { MissingInvalidationDetector } from './detector.js';
import { EntryLoader } from './entry-loader.js';
import { FaultRecordingUnit } from './fault-unit.js';
import { InvalidationQueue } from './inv-queue.js';
import { VtdMmio } from './mmio.js';
import { PasidCache, PE_ERE, PE_FPD, PE_SRE } from './pasid-cache.js';
import { PageRequestQueue } from './prq.js';
import { RegisterFile } from './register-file.js';
import { SlotWalk } from './slot-walk.js';
import { staleReport, type VtdFaultDetail, vtdFaultInfo } from './reports.js';
import { iotlbTag, TLB_DIRTY, TLB_R, TLB_U, TLB_W, TLB_X, VtdTlbs } from './tlbs.js';
import { PageWalker } from './walker.js';

export interface VtdHardwareParams {
  cap: bigint;
  ecap: bigint;
  /** VER_REG (default 0x10, major 1 minor 0, as QEMU reports). */
  version?: number;
  /** Host address width: address bits at and above it are reserved in every table entry (default 46). */
  haw?: number;
}

/** Which caches the hardware uses; all on by default (turning one off also stops its fills). */
export interface VtdCaching {
  context: boolean;
  pasid: boolean;
  iotlb: boolean;
  pagingStructure: boolean;
}

/** First-stage conditions a page request resolves: not present, U/S, execute, write and read permission. */
const RECOVERABLE = new Set([FR.VTD_FR_SM_FS_P, FR.VTD_FR_SM_US, FR.VTD_FR_SM_EXEC, FR.VTD_FR_SM_WRITE, FR.VTD_FR_SM_READ]);

export class VtdHardware implements DmaTranslator {
  readonly cap: bigint;
  readonly ecap: bigint;
  readonly haw: number;
  readonly regs: RegisterFile;
  readonly ctx = new ContextCache();
  readonly pasidCache = new PasidCache();
  readonly tlbs = new VtdTlbs();
  readonly faults: FaultRecordingUnit;
  readonly iq: InvalidationQueue;
  /** The page request queue (ECAP.PRS), else null. */
  readonly prq: PageRequestQueue | null;
  readonly mmio: VtdMmio;
  readonly walker: PageWalker;
  readonly detector = new MissingInvalidationDetector();
  translations = 0;
  faultCount = 0;
  /** Remapping enabled (GSTS.TES); off, DMA addresses pass through untranslated. */
  private te = false;
  private rtaPfn = 0;
  private ttm = 0;
  private rtaValid = true;
  private ctxOn = true;
  private pasidOn = true;
  private iotlbOn = true;
  private readonly cm: boolean;
  private readonly hawLimitPfn: number;
  private readonly loader: EntryLoader;
  private readonly slotWalk: SlotWalk;
  private readonly tpFault: Tracepoint;
  private readonly tpMiss: Tracepoint;
  private readonly tpStale: Tracepoint;
  private last: DmaFaultInfo | null = null;
  private readonly f = { reason: 0, rid: 0, pasid: -1, iovaPfn: 0, access: 0, did: -1, recorded: false, recoverable: false, detail: null as VtdFaultDetail | null };

  constructor(
    private readonly mem: PhysMem,
    params: VtdHardwareParams,
    trace?: Tracer,
  ) {
    this.cap = BigInt.asUintN(64, params.cap);
    this.ecap = BigInt.asUintN(64, params.ecap);
    this.haw = params.haw ?? 46;
    const cap = VtdCap.decode([this.cap]);
    const ecap = VtdEcap.decode([this.ecap]);
    if (cap.fro === 0 || ecap.iro === 0) throw new RangeError('CAP.FRO and ECAP.IRO must place the fault recording and IOTLB registers');
    const fro = cap.fro * 16;
    const iro = ecap.iro * 16;
    const nfr = cap.nfr + 1;
    this.cm = cap.cm;
    this.hawLimitPfn = 2 ** (this.haw - 12);
    this.regs = new RegisterFile(Math.max(fro + nfr * R.FRCD_REG_LEN, iro + 16, 0x100));
    this.regs.w32(R.DMAR_VER_REG, params.version ?? 0x10);
    this.regs.w64(R.DMAR_CAP_REG, this.cap);
    this.regs.w64(R.DMAR_ECAP_REG, this.ecap);
    const tracer = trace ?? new Tracer();
    const tp = (name: string) => tracer.point(name, 'vtd');
    this.tpFault = tp('vtd_dmar_fault');
    this.tpMiss = tp('vtd_iotlb_miss');
    this.tpStale = tp('vtd_stale_translation');
    this.faults = new FaultRecordingUnit(this.regs, fro, nfr);
    this.iq = new InvalidationQueue(mem, this.regs, { ctx: this.ctx, pasid: this.pasidCache, tlbs: this.tlbs }, { mamv: cap.mamv, psi: cap.psi }, tp('vtd_inv_desc'));
    this.prq = ecap.prs ? new PageRequestQueue(mem, this.regs, tp('vtd_prq_write')) : null;
    if (this.prq) {
      // PECTL.IM is set at reset (10.4.35); page group responses leave through the invalidation queue.
      this.regs.w32(DMAR_PECTL_REG, R.DMA_FECTL_IM);
      const prq = this.prq;
      this.iq.onPageResponse = (qw) => prq.respond(qw);
    }
    this.mmio = new VtdMmio(this.regs, this.faults, this.iq, this.control(), fro, iro, this.prq);
    this.loader = new EntryLoader(mem, this.cap, this.ecap, this.haw);
    this.walker = new PageWalker(mem, this.tlbs, this.haw, cap.fs1gp, cap.sslps, ecap.dt);
    this.slotWalk = new SlotWalk(this.walker, this.pasidCache, capMgaw(this.cap));
  }

  // Register access, as the driver does it through MMIO.
  read32(off: number): number {
    return this.mmio.read32(off);
  }
  read64(off: number): bigint {
    return this.mmio.read64(off);
  }
  write32(off: number, v: number): void {
    this.mmio.write32(off, v);
  }
  write64(off: number, v: bigint): void {
    this.mmio.write64(off, v);
  }

  /** The fault event interrupt handler (FEDATA/FEADDR's MSI). */
  set onFaultEvent(fn: (() => void) | null) {
    this.faults.onEvent = fn;
  }

  /** The page request event interrupt handler (PEDATA/PEADDR's MSI). */
  set onPageRequestEvent(fn: (() => void) | null) {
    if (this.prq) this.prq.onEvent = fn;
  }

  /** The invalidation completion interrupt handler. */
  set onInvalidationEvent(fn: (() => void) | null) {
    this.iq.onInterrupt = fn;
  }

  get translationEnabled(): boolean {
    return this.te;
  }

  setCaching(c: Partial<VtdCaching>): void {
    if (c.context !== undefined) this.ctxOn = c.context;
    if (c.pasid !== undefined) this.pasidOn = c.pasid;
    if (c.iotlb !== undefined) this.iotlbOn = c.iotlb;
    if (c.pagingStructure !== undefined) this.walker.pscOn = c.pagingStructure;
  }

  /** Drops every cached entry (what ESRTPS hardware does on SRTP). */
  invalidateAllCaches(): void {
    this.ctx.invalidateAll();
    this.pasidCache.invalidateAll();
    this.tlbs.invalidateAll();
  }

  private control() {
    return {
      setTranslation: (on: boolean) => {
        this.te = on;
      },
      setRootTable: (rtaddr: bigint) => {
        this.ttm = Number((rtaddr >> 10n) & 3n);
        this.rtaValid = rtaddr >> BigInt(this.haw) === 0n;
        this.rtaPfn = Number((rtaddr & ((1n << BigInt(this.haw)) - 1n)) >> 12n);
        if (VtdCap.decode([this.cap]).esrtps) this.invalidateAllCaches();
      },
      contextCommand: (ccmd: bigint) => {
        const g = Number((ccmd >> 61n) & 3n);
        if (g === 3) this.ctx.invalidateDevice(Number((ccmd >> 16n) & 0xffffn), Number((ccmd >> 32n) & 3n));
        else this.ctx.invalidateAll();
        this.regs.w64(R.DMAR_CCMD_REG, (ccmd & ~R.DMA_CCMD_ICC & ~(3n << 59n)) | (BigInt(g) << 59n));
      },
      iotlbCommand: (iva: bigint, cmd: bigint) => {
        const g = Number((cmd >> 60n) & 3n);
        const did = Number((cmd >> 32n) & 0xffffn);
        if (g === 1) this.tlbs.invalidateAll();
        else if (g === 2) this.tlbs.invalidateDomain(did);
        else if (g === 3) {
          const n = 2 ** Number(iva & 0x3fn);
          this.tlbs.invalidateDomainPages(did, Math.floor(Number(iva >> 12n) / n) * n, n, (iva & 0x40n) !== 0n);
        }
      },
    };
  }

  /** DmaTranslator: one 4 KiB page of a request from `rid` (with `pasid`, or NO_PASID = -1). */
  translate(rid: number, pasid: number, iovaPfn: number, access: number): number {
    this.translations++;
    if (!this.te) return iovaPfn;
    const ctx = this.ctx;
    const cs = this.ctxOn ? ctx.lookup(rid) : 0;
    if (cs === 0) {
      if (!this.rtaValid || this.ttm !== R.RTADDR_TTM_SCALABLE) return this.rootFault(rid, pasid, iovaPfn, access);
      if (!this.loader.loadContext(this.rtaPfn, rid, ctx, this.cm)) return this.entryFault(rid, pasid, iovaPfn, access, false);
    } else if (cs === CONTEXT_NEGATIVE) {
      return this.fault(FR.VTD_FR_SM_CTX_P, rid, pasid, iovaPfn, access, -1, false, { stage: 'context', level: 0 });
    }
    const cflags = ctx.flags[rid]!;
    const ctxFpd = (cflags & CTX_FPD) !== 0;
    let p = pasid;
    if (p < 0) p = ctx.ridPasid[rid]!;
    else if ((cflags & CTX_PASIDE) === 0) return this.fault(FR.VTD_FR_SM_CTX_PASIDE, rid, pasid, iovaPfn, access, -1, ctxFpd, { stage: 'context', level: 0 });
    if (p >= ctx.maxPasid[rid]!) {
      return this.fault(pasid < 0 ? FR.VTD_FR_SM_RID_PASID : FR.VTD_FR_SM_PASID_TOO_BIG, rid, pasid, iovaPfn, access, -1, ctxFpd, { stage: 'context', level: 0 });
    }
    const pc = this.pasidCache;
    let slot = this.pasidOn ? pc.lookup(rid, p) : -1;
    if (slot < 0) {
      slot = this.loader.loadPasid(rid, p, ctx, pc);
      if (slot < 0) return this.entryFault(rid, pasid, iovaPfn, access, ctxFpd || this.loader.fpd);
    }
    const pflags = pc.flags[slot]!;
    const fpd = ctxFpd || (pflags & PE_FPD) !== 0;
    const did = pc.did[slot]!;
    const priv = pasid >= 0 ? (access & DMA_PRIV) !== 0 : (cflags & CTX_RID_PRIV) !== 0;
    const exec = (access & DMA_EXEC) !== 0;
    if (priv && (pflags & PE_SRE) === 0) return this.fault(FR.VTD_FR_SM_PTE_SRE, rid, pasid, iovaPfn, access, did, fpd, { stage: 'pasid', level: 0 });
    if (exec && pasid >= 0 && (pflags & PE_ERE) === 0) return this.fault(FR.VTD_FR_SM_PTE_ERE, rid, pasid, iovaPfn, access, did, fpd, { stage: 'pasid', level: 0 });
    const pgtt = pc.pgtt[slot]!;
    if (pgtt === PASID_ENTRY_PGTT_PT) {
      if (iovaPfn >= this.hawLimitPfn) return this.fault(FR.VTD_FR_SM_BEYOND_MAX, rid, pasid, iovaPfn, access, did, fpd, { stage: 'request', level: 0 });
      return iovaPfn;
    }
    const write = (access & DMA_WRITE) !== 0;
    const iotlbOn = this.iotlbOn;
    const tag = iotlbOn ? iotlbTag(did, p, pgtt === PASID_ENTRY_PGTT_SL_ONLY) : 0;
    if (iotlbOn) {
      const need = (write ? TLB_W | TLB_DIRTY : TLB_R) | (exec ? TLB_X : 0) | (priv ? 0 : TLB_U);
      const iotlb = this.tlbs.iotlb;
      const out = iotlb.lookup(tag, iovaPfn);
      if (out >= 0 && (iotlb.perm() & need) === need) {
        if (this.detector.enabled) this.checkHit(rid, p, slot, iovaPfn, access, priv, out, iotlb.level(), iotlb.perm());
        return out;
      }
      if (this.tpMiss.enabled) this.tpMiss.emit({ rid, did, pasid: p, iova: `0x${(iovaPfn * 4096).toString(16)}` });
    }
    const sw = this.slotWalk;
    if (!sw.run(slot, p, iovaPfn, write, exec, priv)) {
      return this.fault(sw.reason, rid, pasid, iovaPfn, access, did, fpd, {
        stage: sw.stage,
        level: sw.faultLevel,
        entryPa: sw.entryPa,
        entry: sw.entryPa >= 0 ? (BigInt(sw.entryHi >>> 0) << 32n) | BigInt(sw.entryLo >>> 0) : undefined,
        tableGpa: sw.tableGpaPfn >= 0 ? BigInt(sw.tableGpaPfn) * 4096n : undefined,
      });
    }
    if (iotlbOn && sw.level <= 3) this.tlbs.iotlb.fill(tag, iovaPfn, sw.pfn, sw.level, sw.perm | (pgtt << 5));
    return sw.pfn;
  }

  lastFault(): DmaFaultInfo {
    const f = this.f;
    this.last ??= vtdFaultInfo(f.reason, f.rid, f.pasid, f.iovaPfn, f.access, f.did, f.recorded, f.detail, f.recoverable);
    return this.last;
  }

  /**
   * PRI (7.4.1): a page request needs ECAP.PRS, translation on, and a present context entry with PRE set; a refused
   * request is a recorded fault (0x47 for PRE clear) that the hardware answers with Invalid Request itself.
   */
  pageRequest(dev: PciDevice, req: PageRequest): void {
    const prq = this.prq;
    // Without PRS the message goes nowhere and the device times out; with translation off there is nothing to fix.
    if (!prq) return;
    if (!this.te) return prq.refuse(dev, req);
    const rid = req.rid;
    const pfn = req.iovaPfn;
    if (this.ctx.lookup(rid) !== 1 && (!this.rtaValid || !this.loader.loadContext(this.rtaPfn, rid, this.ctx, this.cm))) {
      this.fault(this.rtaValid ? this.loader.reason : FR.VTD_FR_SM_RTA_INVALID, rid, req.pasid, pfn, req.access, -1, false, { stage: 'context', level: 0 });
      return prq.refuse(dev, req);
    }
    const flags = this.ctx.flags[rid]!;
    if ((flags & CTX_PRE) === 0) {
      this.fault(FR.VTD_FR_SM_CTX_PRE, rid, req.pasid, pfn, req.access, -1, (flags & CTX_FPD) !== 0, { stage: 'context', level: 0 });
      return prq.refuse(dev, req);
    }
    prq.request(dev, req);
  }

  private rootFault(rid: number, pasid: number, iovaPfn: number, access: number): number {
    // TTM 00 (legacy mode, not modelled) rejects PASID requests with 0x31; abort (11b) and reserved (10b) TTMs block.
    const reason = this.rtaValid && this.ttm === R.RTADDR_TTM_LEGACY && pasid >= 0 ? FR.VTD_FR_SM_TTM0_PASID : FR.VTD_FR_SM_RTA_INVALID;
    return this.fault(reason, rid, pasid, iovaPfn, access, -1, this.ttm === R.RTADDR_TTM_ABORT, { stage: 'root', level: 0 });
  }

  private entryFault(rid: number, pasid: number, iovaPfn: number, access: number, fpd: boolean): number {
    const l = this.loader;
    return this.fault(l.reason, rid, pasid, iovaPfn, access, -1, fpd, { stage: l.stage, level: 0, entryPa: l.entryPa, entries: l.entry.length ? l.entry : undefined });
  }

  /** A translation fault: recorded in the fault recording registers unless fault processing is disabled. */
  private fault(reason: number, rid: number, pasid: number, iovaPfn: number, access: number, did: number, fpd: boolean, detail: VtdFaultDetail): number {
    this.faultCount++;
    const f = this.f;
    f.reason = reason;
    f.rid = rid;
    f.pasid = pasid;
    f.iovaPfn = iovaPfn;
    f.access = access;
    f.did = did;
    // An ATS translation request for a page a page request can bring in gets "no access" back, nothing recorded.
    f.recoverable = (access & DMA_ATS) !== 0 && detail.stage === 'first' && RECOVERABLE.has(reason);
    f.recorded = !fpd && !f.recoverable;
    f.detail = detail;
    this.last = null;
    if (this.tpFault.enabled) this.tpFault.emit({ reason, rid, pasid, iova: `0x${(iovaPfn * 4096).toString(16)}`, stage: detail.stage, level: detail.level });
    if (f.recoverable) return -1;
    if (fpd) this.faults.suppressed++;
    else this.faults.record(reason, rid, pasid, iovaPfn, (access & DMA_WRITE) !== 0, (access & DMA_EXEC) !== 0, (access & DMA_PRIV) !== 0);
    return -1;
  }

  /** Missing-invalidation detector: re-walk without side effects and compare with the IOTLB's answer. */
  private checkHit(rid: number, p: number, slot: number, iovaPfn: number, access: number, priv: boolean, pfn: number, level: number, perm: number): void {
    const w = this.walker;
    const sw = this.slotWalk;
    w.peek = true;
    w.fsLeafPa = -1;
    w.ssLeafPa = -1;
    const ok = sw.run(slot, p, iovaPfn, (access & DMA_WRITE) !== 0, (access & DMA_EXEC) !== 0, priv);
    w.peek = false;
    const mask = TLB_R | TLB_W;
    if (ok && sw.pfn === pfn && (sw.perm & mask) === (perm & mask)) return;
    const r = staleReport(rid, this.pasidCache.did[slot]!, p, iovaPfn, access, { pfn, level, perm: perm & 31 }, ok, sw, w, this.mem);
    if (this.tpStale.enabled) this.tpStale.emit({ rid, did: r.did, pasid: p, iova: `0x${r.iova.toString(16)}` });
    this.detector.report(r);
  }
}

export { TLB_DIRTY, TLB_R, TLB_U, TLB_W, TLB_X };
