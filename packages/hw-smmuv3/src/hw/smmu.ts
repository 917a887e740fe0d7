// The SMMUv3 hardware: register interface (IHI0070 6), queues, caches and the translation of DMA (3.x).
import type { DmaFaultInfo, DmaTranslator, PageRequest, PciDevice, PhysMem, Tracepoint, Tracer } from '@iommu-lab/platform';
import { QueueBase } from '../format/queue.js';
import {
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_PRIQEN,
  GBPA_UPDATE,
  GERROR_CMDQ_ERR,
  GERROR_EVTQ_ABT_ERR,
  IRQ_CTRL_EVTQ_IRQEN,
  IRQ_CTRL_GERROR_IRQEN,
  IRQ_CTRL_PRIQ_IRQEN,
  SMMU_REG,
} from '../format/registers.js';
import { StrtabBase } from '../format/strtab.js';
import { CommandConsumer } from './cmdq.js';
import { checkSmmuConfig, DEFAULT_SMMU_CONFIG, type SmmuHwConfig, smmuIdRegs } from './config.js';
import { ConfigCache } from './config-cache.js';
import { type EvtqStats, writeEvent } from './evtq.js';
import { PriQueue } from './priq.js';
import { SmmuRegs } from './regs.js';
import { SmmuTlb } from './tlb.js';
import { type StaleReport, Translator } from './translate.js';
import { Walker } from './walk.js';

export type SmmuIrq = 'gerror' | 'evtq' | 'priq' | 'cmdSync';

/** The bus view of an SMMU: what a driver reads and writes, and the interrupt lines it attaches to. */
export interface SmmuMmio {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
  read64(offset: number): bigint;
  write64(offset: number, value: bigint): void;
  /** request_irq: `handler` runs when the SMMU raises the line (null detaches). */
  setIrqHandler(line: SmmuIrq, handler: (() => void) | null): void;
}

const REG64 = new Set<number>([
  SMMU_REG.STRTAB_BASE,
  SMMU_REG.CMDQ_BASE,
  SMMU_REG.EVENTQ_BASE,
  SMMU_REG.PRIQ_BASE,
  SMMU_REG.GERROR_IRQ_CFG0,
  SMMU_REG.EVENTQ_IRQ_CFG0,
  SMMU_REG.PRIQ_IRQ_CFG0,
]);

/**
 * One SMMUv3. Tables and queues live in `mem`; the SMMU reads them when it needs them and keeps what
 * it read in its configuration cache and TLB until a command invalidates it.
 */
export class SmmuV3 implements DmaTranslator, SmmuMmio {
  readonly cfg: SmmuHwConfig;
  readonly idr: readonly number[];
  readonly iidr: number;
  readonly aidr: number;
  readonly regs = new SmmuRegs();
  readonly walker: Walker;
  readonly configCache: ConfigCache;
  readonly tlb: SmmuTlb;
  readonly evtqStats: EvtqStats = { written: 0, lost: 0, dropped: 0 };
  /** Missing invalidations the detector found (cfg.detectStale), oldest first, at most 1000. */
  readonly staleReports: StaleReport[] = [];
  readonly cmdq: CommandConsumer;
  readonly priq: PriQueue;
  readonly tpEvent: Tracepoint | null;
  private readonly translator: Translator;
  private readonly irqs: Partial<Record<SmmuIrq, () => void>> = {};

  constructor(
    readonly mem: PhysMem,
    config: Partial<SmmuHwConfig> = {},
    readonly trace: Tracer | null = null,
  ) {
    this.cfg = { ...DEFAULT_SMMU_CONFIG, ...config };
    checkSmmuConfig(this.cfg);
    const ids = smmuIdRegs(this.cfg);
    this.idr = ids.idr;
    this.iidr = ids.iidr;
    this.aidr = ids.aidr;
    this.walker = new Walker(mem);
    this.configCache = new ConfigCache(mem, this.cfg, this.regs, this.walker);
    this.tlb = new SmmuTlb(this.cfg.tlbSets, this.cfg.tlbWays);
    this.tpEvent = trace?.point('smmuv3_event', 'smmuv3') ?? null;
    this.cmdq = new CommandConsumer(this);
    this.priq = new PriQueue(this);
    this.translator = new Translator(this);
  }

  translate(rid: number, pasid: number, iovaPfn: number, access: number): number {
    return this.translator.translate(rid, pasid, iovaPfn, access);
  }

  lastFault(): DmaFaultInfo {
    return this.translator.lastFault;
  }

  /** PRI: a page request from a device; without IDR0.PRI the message goes nowhere and the device times out. */
  pageRequest(dev: PciDevice, req: PageRequest): void {
    if (this.cfg.pri) this.priq.request(dev, req);
  }

  /** Outstanding stalled transactions by STAG (IDR0.STALL_MODEL 0 or 2). */
  get stalls(): ReadonlyMap<number, { sid: number; ssid: number }> {
    return this.translator.stalls;
  }

  /** @internal Off: every walk is the Walker's alone (tests compare the fast path with it). */
  set fastWalk(on: boolean) {
    this.translator.quick = on;
  }

  /** @internal RESUME / STALL_TERM */
  resolveStall(stag: number, sid: number, all: boolean): number {
    return this.translator.resolveStall(stag, sid, all);
  }

  setIrqHandler(line: SmmuIrq, handler: (() => void) | null): void {
    this.irqs[line] = handler ?? undefined;
  }

  /** @internal pulses a line; GERROR, EVTQ and PRIQ lines are gated by IRQ_CTRL. */
  raise(line: SmmuIrq): void {
    if (line === 'gerror' && (this.regs.irqCtrl & IRQ_CTRL_GERROR_IRQEN) === 0) return;
    if (line === 'evtq' && (this.regs.irqCtrl & IRQ_CTRL_EVTQ_IRQEN) === 0) return;
    if (line === 'priq' && (this.regs.irqCtrl & IRQ_CTRL_PRIQ_IRQEN) === 0) return;
    this.irqs[line]?.();
  }

  /** @internal activates global errors (bits not already active toggle in GERROR) and raises GERROR. */
  raiseGerror(bits: number): void {
    const r = this.regs;
    const fresh = bits & ~(r.gerror ^ r.gerrorn);
    if (fresh === 0) return;
    r.gerror = (r.gerror ^ fresh) >>> 0;
    this.raise('gerror');
  }

  /** @internal appends an event record (8 u32 words) to the EVENTQ and raises its interrupt. */
  recordEvent(words: Uint32Array): void {
    if ((this.regs.cr0 & CR0_EVTQEN) === 0) {
      this.evtqStats.dropped++;
      return;
    }
    const r = writeEvent(this.mem, this.regs, words, this.evtqStats);
    if (r === 'abort') this.raiseGerror(GERROR_EVTQ_ABT_ERR);
    else if (r === 'written') this.raise('evtq');
  }

  read32(offset: number): number {
    const r = this.regs;
    switch (offset) {
      case SMMU_REG.IDR0:
      case SMMU_REG.IDR1:
      case SMMU_REG.IDR2:
      case SMMU_REG.IDR3:
      case SMMU_REG.IDR4:
      case SMMU_REG.IDR5:
        return this.idr[offset / 4]!;
      case SMMU_REG.IIDR:
        return this.iidr;
      case SMMU_REG.AIDR:
        return this.aidr;
      case SMMU_REG.CR0:
        return r.cr0;
      case SMMU_REG.CR0ACK:
        return r.cr0ack;
      case SMMU_REG.CR1:
        return r.cr1;
      case SMMU_REG.CR2:
        return r.cr2;
      case SMMU_REG.GBPA:
        return r.gbpa;
      case SMMU_REG.IRQ_CTRL:
        return r.irqCtrl;
      case SMMU_REG.IRQ_CTRLACK:
        return r.irqCtrlAck;
      case SMMU_REG.GERROR:
        return r.gerror;
      case SMMU_REG.GERRORN:
        return r.gerrorn;
      case SMMU_REG.STRTAB_BASE_CFG:
        return r.strtabCfg;
      case SMMU_REG.CMDQ_PROD:
        return r.cmdqProd;
      case SMMU_REG.CMDQ_CONS:
        return r.cmdqCons;
      case SMMU_REG.EVENTQ_PROD:
      case SMMU_REG.EVENTQ_PROD & 0xffff:
        return r.evtqProd;
      case SMMU_REG.EVENTQ_CONS:
      case SMMU_REG.EVENTQ_CONS & 0xffff:
        return r.evtqCons;
      case SMMU_REG.PRIQ_PROD:
      case SMMU_REG.PRIQ_PROD & 0xffff:
        return r.priqProd;
      case SMMU_REG.PRIQ_CONS:
      case SMMU_REG.PRIQ_CONS & 0xffff:
        return r.priqCons;
    }
    const base = offset & ~7;
    if (REG64.has(base)) {
      const v = this.read64(base);
      return Number(offset === base ? v & 0xffff_ffffn : v >> 32n);
    }
    return 0;
  }

  write32(offset: number, value: number): void {
    const v = value >>> 0;
    const r = this.regs;
    switch (offset) {
      case SMMU_REG.CR0: {
        const was = r.cr0;
        r.cr0 = v & 0x1ff;
        r.cr0ack = r.cr0;
        if ((r.cr0 & CR0_CMDQEN) !== 0 && (was & CR0_CMDQEN) === 0) this.cmdq.consume();
        return;
      }
      case SMMU_REG.CR1:
        r.cr1 = v & 0xfff;
        return;
      case SMMU_REG.CR2:
        r.cr2 = v & 7;
        return;
      case SMMU_REG.GBPA:
        if (v & GBPA_UPDATE) r.gbpa = (v & ~GBPA_UPDATE) >>> 0;
        return;
      case SMMU_REG.IRQ_CTRL:
        r.irqCtrl = v & 7;
        r.irqCtrlAck = r.irqCtrl;
        return;
      case SMMU_REG.GERRORN: {
        const wasHalted = ((r.gerror ^ r.gerrorn) & GERROR_CMDQ_ERR) !== 0;
        r.gerrorn = v;
        if (wasHalted && ((r.gerror ^ r.gerrorn) & GERROR_CMDQ_ERR) === 0) this.cmdq.consume();
        return;
      }
      case SMMU_REG.STRTAB_BASE_CFG:
        if (!this.guarded(0)) r.strtabCfg = v & 0x307ff;
        return;
      case SMMU_REG.CMDQ_PROD:
        r.cmdqProd = v % 2 ** 20;
        this.cmdq.consume();
        return;
      case SMMU_REG.CMDQ_CONS:
        if (!this.guarded(CR0_CMDQEN)) r.cmdqCons = v;
        return;
      case SMMU_REG.EVENTQ_PROD:
      case SMMU_REG.EVENTQ_PROD & 0xffff:
        if (!this.guarded(CR0_EVTQEN)) r.evtqProd = v;
        return;
      case SMMU_REG.EVENTQ_CONS:
      case SMMU_REG.EVENTQ_CONS & 0xffff:
        r.evtqCons = v;
        return;
      case SMMU_REG.PRIQ_PROD:
      case SMMU_REG.PRIQ_PROD & 0xffff:
        if (!this.guarded(CR0_PRIQEN)) r.priqProd = v;
        return;
      case SMMU_REG.PRIQ_CONS:
      case SMMU_REG.PRIQ_CONS & 0xffff:
        r.priqCons = v;
        return;
    }
    const base = offset & ~7;
    if (REG64.has(base)) {
      const cur = this.read64(base);
      const next = offset === base ? (cur & 0xffff_ffff_0000_0000n) | BigInt(v) : (cur & 0xffff_ffffn) | (BigInt(v) << 32n);
      this.write64(base, next);
    }
  }

  read64(offset: number): bigint {
    const r = this.regs;
    switch (offset) {
      case SMMU_REG.STRTAB_BASE:
        return r.strtabBase;
      case SMMU_REG.CMDQ_BASE:
        return r.cmdqBase;
      case SMMU_REG.EVENTQ_BASE:
        return r.evtqBase;
      case SMMU_REG.PRIQ_BASE:
        return r.priqBase;
    }
    if (REG64.has(offset)) return r.irqCfg.get(offset) ?? 0n;
    return BigInt(this.read32(offset)) | (BigInt(this.read32(offset + 4)) << 32n);
  }

  write64(offset: number, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    const r = this.regs;
    switch (offset) {
      case SMMU_REG.STRTAB_BASE: {
        if (this.guarded(0)) return;
        r.strtabBase = v & 0x400f_ffff_ffff_ffc0n;
        r.strtabBaseAddr = Number(StrtabBase.decode([v]).addr);
        return;
      }
      case SMMU_REG.CMDQ_BASE: {
        if (this.guarded(CR0_CMDQEN)) return;
        const q = QueueBase.decode([v]);
        r.cmdqBase = v & 0x400f_ffff_ffff_ffffn;
        r.cmdqBaseAddr = Number(q.addr);
        r.cmdqLog2 = Math.min(q.log2size, this.cfg.cmdqs);
        return;
      }
      case SMMU_REG.EVENTQ_BASE: {
        if (this.guarded(CR0_EVTQEN)) return;
        const q = QueueBase.decode([v]);
        r.evtqBase = v & 0x400f_ffff_ffff_ffffn;
        r.evtqBaseAddr = Number(q.addr);
        r.evtqLog2 = Math.min(q.log2size, this.cfg.eventqs);
        return;
      }
      case SMMU_REG.PRIQ_BASE: {
        if (this.guarded(CR0_PRIQEN)) return;
        const q = QueueBase.decode([v]);
        r.priqBase = v & 0x400f_ffff_ffff_ffffn;
        r.priqBaseAddr = Number(q.addr);
        r.priqLog2 = Math.min(q.log2size, this.cfg.priqs);
        return;
      }
    }
    if (REG64.has(offset)) {
      r.irqCfg.set(offset, v);
      return;
    }
    this.write32(offset, Number(v & 0xffff_ffffn));
    this.write32(offset + 4, Number(v >> 32n));
  }

  /** A base register is read-only while its enable (or SMMUEN for the stream table) is set. */
  private guarded(enable: number): boolean {
    const r = this.regs;
    return enable === 0 ? (r.cr0 & 1) !== 0 || (r.cr0ack & 1) !== 0 : (r.cr0 & enable) !== 0;
  }
}
