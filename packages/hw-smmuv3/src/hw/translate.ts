// Translation of one transaction (IHI0070 3.x): STE -> CD -> stage 1 -> stage 2, the TLB, and fault events.
import type { DmaFaultInfo, Tracepoint } from '@iommu-lab/platform';
import { DMA_ATS, DMA_EXEC, DMA_PRIV, DMA_WRITE } from '@iommu-lab/platform';
import { EVT, EVT_CLASS_IN, EVT_CLASS_TT, eventName, Evt } from '../format/event.js';
import { GBPA_ABORT } from '../format/registers.js';
import { STE_CFG_ABORT, STE_CFG_BYPASS, STE_S1DSS_BYPASS, STE_S1DSS_SSID0 } from '../format/ste.js';
import type { SmmuV3 } from './smmu.js';
import type { CtxConfig, StreamConfig } from './stream-config.js';
import { quickOut, quickWalk } from './quick-walk.js';
import { addrWords, pageAddrWords, PERM_ALL, permNeeded } from './walk.js';

/** A cached translation that differs from what the tables say now: an invalidation is missing. */
export interface StaleReport {
  readonly sid: number;
  /** -1 without a SubstreamID. */
  readonly ssid: number;
  readonly iova: bigint;
  readonly vmid: number;
  /** -1 for a stage-2-only entry. */
  readonly asid: number;
  readonly cached: { readonly pa: bigint; readonly perm: number };
  readonly fresh: { readonly pa: bigint; readonly perm: number } | { readonly fault: string };
}

const CD_BYPASS = -1;
const CD_DISABLED = -2;
const CD_BAD_SSID = -3;

const NO_FAULT: DmaFaultInfo = { reason: 0, reasonName: 'no fault', address: 0n, pasid: -1, access: 0 };

/** Event types whose recording CD.R (stage 1) or STE.S2R (stage 2) controls. */
function isTranslationFault(type: number): boolean {
  return type >= EVT.F_TRANSLATION && type <= EVT.F_PERMISSION;
}

/** Stage-1 faults a page request can resolve: an ATS translation request gets "no access" for them, no event. */
function atsResolvable(type: number, s2: number): boolean {
  return s2 === 0 && (type === EVT.F_TRANSLATION || type === EVT.F_ACCESS || type === EVT.F_PERMISSION);
}

export class Translator {
  lastFault: DmaFaultInfo = NO_FAULT;
  /** The fast path ahead of the Walker (off: the Walker alone, to compare the two). */
  quick = true;
  readonly stalls = new Map<number, { sid: number; ssid: number }>();
  private nextStag = 0;
  private readonly words = new Uint32Array(8);
  private readonly ramPages: number;
  private readonly chunks: readonly Uint32Array[];
  private readonly tpMiss: Tracepoint | null;
  private readonly tpStale: Tracepoint | null;

  constructor(private readonly s: SmmuV3) {
    this.ramPages = s.mem.size / 4096;
    this.chunks = s.mem.chunks32;
    this.tpMiss = s.trace?.point('smmuv3_tlb_miss', 'smmuv3') ?? null;
    this.tpStale = s.trace?.point('smmuv3_stale_translation', 'smmuv3') ?? null;
  }

  translate(sid: number, pasid: number, pfn: number, access: number): number {
    const s = this.s;
    if ((s.regs.cr0 & 1) === 0) {
      if ((s.regs.gbpa & GBPA_ABORT) !== 0) return this.fail(0, 'SMMU disabled and GBPA.ABORT set', pfn, pasid, access);
      return this.output(pfn, pasid, access);
    }
    const sc = s.configCache.stream(sid);
    if (sc === null) return this.fault(sid, pasid, pfn, access, null, null);
    if (sc.config === STE_CFG_ABORT) return this.fail(0, 'STE.Config abort', pfn, pasid, access);
    // An ATS translation request to a stream without EATS (or in bypass) is refused (IHI0070 5.2 EATS)
    if ((access & DMA_ATS) !== 0 && (sc.config === STE_CFG_BYPASS || sc.eats === 0)) {
      s.walker.fault.set(EVT.F_BAD_ATS_TREQ, 0, 0, 0);
      return this.fault(sid, pasid, pfn, access, sc, null);
    }
    if (sc.config === STE_CFG_BYPASS) return this.output(pfn, pasid, access);
    let cd: CtxConfig | null = null;
    let tag = sc.s2Tag;
    if (sc.s1) {
      const index = this.cdIndex(sc, pasid);
      if (index === CD_BYPASS) {
        if (!sc.s2) return this.output(pfn, pasid, access);
      } else if (index < 0) {
        s.walker.fault.set(index === CD_DISABLED ? EVT.F_STREAM_DISABLED : EVT.C_BAD_SUBSTREAMID, 0, 0, 0);
        return this.fault(sid, pasid, pfn, access, sc, null);
      } else {
        cd = s.configCache.cd(sc, index);
        if (cd === null) return this.fault(sid, pasid, pfn, access, sc, null);
        tag = cd.tag;
      }
    } else if (pasid >= 0) {
      s.walker.fault.set(EVT.C_BAD_SUBSTREAMID, 0, 0, 0);
      return this.fault(sid, pasid, pfn, access, sc, null);
    }
    const need = permNeeded(access);
    if (s.cfg.tlb) {
      const cache = s.tlb.cache;
      const out = cache.lookup(tag, pfn);
      if (out >= 0 && (cache.perm() & need) !== 0) {
        if (s.cfg.detectStale) this.check(sc, cd, sid, pasid, pfn, access, out, cache.perm());
        return this.output(out, pasid, access);
      }
      if (this.tpMiss?.enabled) this.tpMiss.emit({ sid, pasid, iova: `0x${(pfn * 4096).toString(16)}`, tag });
    }
    const out = this.walk(sc, cd, pfn, access, need);
    if (out < 0) return this.fault(sid, pasid, pfn, access, sc, cd);
    if (s.cfg.tlb) {
      const pages = this.pages;
      s.tlb.cache.fill(tag, pfn, out, pages === 1 ? 1 : pages === 512 ? 2 : 3, this.perm);
    }
    return this.output(out, pasid, access);
  }

  /** RESUME (one STAG of a stream) or STALL_TERM (every stall of a stream). */
  resolveStall(stag: number, sid: number, all: boolean): number {
    let n = 0;
    for (const [tag, st] of [...this.stalls]) {
      if (st.sid === sid && (all || tag === stag)) {
        this.stalls.delete(tag);
        n++;
      }
    }
    return n;
  }

  private perm = 0;
  private pages = 1;

  /** Both stages for a transaction; sets perm/pages, or returns -1 with the walker's fault state set. */
  private walk(sc: StreamConfig, cd: CtxConfig | null, pfn: number, access: number, need: number): number {
    const w = this.s.walker;
    const quick = this.quick ? quickWalk(this.chunks, sc, cd, pfn, need) : -1;
    if (quick >= 0) {
      w.reads += quickOut.reads;
      this.perm = quickOut.perm;
      this.pages = quickOut.pages;
      return quick;
    }
    let out = pfn;
    let perm = PERM_ALL;
    let pages = 262144;
    if (cd !== null) {
      out = w.s1(sc, cd, pfn, access);
      if (out < 0) return -1;
      perm = w.perm;
      pages = w.pages;
      if ((perm & need) === 0) return w.fault.set(EVT.F_PERMISSION, 0, EVT_CLASS_IN, 0);
    }
    if (sc.s2) {
      const pa = w.s2(sc, out, EVT_CLASS_IN, false);
      if (pa < 0) return -1;
      if ((w.s2Perm & need) === 0) return w.fault.set(EVT.F_PERMISSION, 1, EVT_CLASS_IN, out * 4096);
      perm &= w.s2Perm;
      if (w.s2Pages < pages) pages = w.s2Pages;
      out = pa;
    }
    this.perm = perm;
    this.pages = pages;
    return out;
  }

  /** Which CD serves a transaction (IHI0070 5.2 S1DSS, S1CDMax), or CD_BYPASS / CD_DISABLED / CD_BAD_SSID. */
  private cdIndex(sc: StreamConfig, pasid: number): number {
    if (pasid < 0) {
      if (sc.s1cdmax === 0 || sc.s1dss === STE_S1DSS_SSID0) return 0;
      return sc.s1dss === STE_S1DSS_BYPASS ? CD_BYPASS : CD_DISABLED;
    }
    if (sc.s1cdmax === 0 || pasid >= 2 ** sc.s1cdmax || (sc.s1dss === STE_S1DSS_SSID0 && pasid === 0)) return CD_BAD_SSID;
    return pasid;
  }

  /** A physical page leaves the SMMU; one outside RAM is an external abort on the bus, not an SMMU event. */
  private output(pfn: number, pasid: number, access: number): number {
    if (pfn < this.ramPages) return pfn;
    return this.fail(0, 'external abort: no memory at the output address', pfn, pasid, access);
  }

  private fail(reason: number, reasonName: string, pfn: number, pasid: number, access: number): -1 {
    this.lastFault = { reason, reasonName, address: BigInt(pfn) << 12n, pasid, access };
    return -1;
  }

  /** Records the walker's fault as an event (when the configuration records it) and fails the transaction. */
  private fault(sid: number, pasid: number, pfn: number, access: number, sc: StreamConfig | null, cd: CtxConfig | null): -1 {
    const s = this.s;
    const f = s.walker.fault;
    const translation = isTranslationFault(f.type);
    let record = true;
    let stall = false;
    if (translation && sc) {
      const stallOk = s.cfg.stallModel !== 1;
      if (f.s2) {
        record = sc.s2Record;
        stall = stallOk && sc.s2Stall;
      } else if (cd) {
        record = cd.record;
        stall = stallOk && (cd.stall || s.cfg.stallModel === 2) && !sc.s1stalld;
      }
    }
    const ats = (access & DMA_ATS) !== 0 && atsResolvable(f.type, f.s2);
    if (ats) {
      record = false;
      stall = false;
    }
    let stag = 0;
    if (stall) {
      stag = this.nextStag;
      this.nextStag = (this.nextStag + 1) & 0xffff;
      this.stalls.set(stag, { sid, ssid: pasid });
      record = true;
    }
    const w = this.words;
    w.fill(0);
    w[0] = (f.type | (pasid >= 0 ? 0x800 + pasid * 4096 : 0)) >>> 0;
    w[1] = sid >>> 0;
    if (translation || f.type === EVT.F_WALK_EABT || f.type === EVT.F_BAD_ATS_TREQ) {
      w[2] = (stag | (stall ? 0x80000000 : 0)) >>> 0;
      w[3] = (access & DMA_PRIV ? 2 : 0) | (access & DMA_EXEC ? 4 : 0) | (access & DMA_WRITE ? 0 : 8) | (f.s2 << 7) | (f.cls << 8) | (f.cls === EVT_CLASS_TT ? 0x1000 : 0);
      pageAddrWords(pfn, w, 4);
    }
    addrWords(f.addr2, w, 6);
    if (record) {
      s.recordEvent(w);
      if (s.tpEvent?.enabled) s.tpEvent.emit({ sid, pasid, type: eventName(f.type), iova: `0x${(pfn * 4096).toString(16)}`, s2: f.s2, class: f.cls });
    }
    const evt = [0, 2, 4, 6].map((i) => (BigInt(w[i + 1]!) << 32n) | BigInt(w[i]!));
    this.lastFault = {
      reason: f.type,
      reasonName: eventName(f.type),
      address: BigInt(pfn) << 12n,
      pasid,
      access,
      recoverable: stall || ats,
      record: { evt, ...Evt.decode(evt), recorded: record },
    };
    return -1;
  }

  /** The missing-invalidation detector: compares a TLB hit with a fresh walk of the tables in memory. */
  private check(sc: StreamConfig, cd: CtxConfig | null, sid: number, pasid: number, pfn: number, access: number, out: number, perm: number): void {
    const w = this.s.walker;
    const saved = [w.fault.type, w.fault.s2, w.fault.cls, w.fault.addr2] as const;
    w.updates = false;
    let fresh: StaleReport['fresh'];
    try {
      fresh = this.fresh(sid, pasid, pfn, access);
    } finally {
      w.updates = true;
      w.fault.set(...saved);
    }
    if ('pa' in fresh && fresh.pa === BigInt(out) << 12n && fresh.perm === perm) return;
    const report: StaleReport = {
      sid,
      ssid: pasid,
      iova: BigInt(pfn) << 12n,
      vmid: sc.vmid,
      asid: cd ? cd.asid : -1,
      cached: { pa: BigInt(out) << 12n, perm },
      fresh,
    };
    const list = this.s.staleReports;
    if (list.length >= 1000) list.shift();
    list.push(report);
    if (this.tpStale?.enabled) this.tpStale.emit({ sid, ssid: pasid, iova: `0x${(pfn * 4096).toString(16)}`, cached: `0x${(out * 4096).toString(16)}` });
  }

  /** Translation from memory alone: no configuration cache, no TLB, no events. */
  private fresh(sid: number, pasid: number, pfn: number, access: number): StaleReport['fresh'] {
    const cc = this.s.configCache;
    const w = this.s.walker;
    const sc = cc.fetchStream(sid);
    if (!sc) return { fault: eventName(w.fault.type) };
    if (sc.config === STE_CFG_ABORT) return { fault: 'STE.Config abort' };
    if (sc.config === STE_CFG_BYPASS) return { pa: BigInt(pfn) << 12n, perm: PERM_ALL };
    let cd: CtxConfig | null = null;
    if (sc.s1) {
      const index = this.cdIndex(sc, pasid);
      if (index === CD_BYPASS && !sc.s2) return { pa: BigInt(pfn) << 12n, perm: PERM_ALL };
      if (index === CD_DISABLED || index === CD_BAD_SSID) return { fault: index === CD_DISABLED ? 'F_STREAM_DISABLED' : 'C_BAD_SUBSTREAMID' };
      if (index >= 0) {
        cd = cc.fetchCd(sc, index);
        if (!cd) return { fault: eventName(w.fault.type) };
      }
    }
    const out = this.walk(sc, cd, pfn, access, permNeeded(access));
    if (out < 0) return { fault: eventName(w.fault.type) };
    return { pa: BigInt(out) << 12n, perm: this.perm };
  }
}

