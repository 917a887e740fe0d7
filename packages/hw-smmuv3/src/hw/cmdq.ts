// The command queue consumer (IHI0070 3.5.2, 4): commands run in order from CONS to PROD; an illegal one stops the queue.
import type { Tracepoint } from '@iommu-lab/platform';
import { CMD_DEFINED_BITS, CMDQ_OP, CMDQ_OP_NAMES } from '../format/cmd.js';
import { CERROR_ABT, CERROR_ILL, CMDQ_ENT_SIZE, queueEmpty, queueIdx, queueInc, queuePos } from '../format/queue.js';
import { CR0_CMDQEN, GERROR_CMDQ_ERR, GERROR_MSI_CMDQ_ABT_ERR } from '../format/registers.js';
import type { SmmuV3 } from './smmu.js';

export interface CmdqStats {
  consumed: number;
  /** CMD_SYNCs completed, and how they signalled completion. */
  syncs: number;
  msiWrites: number;
  sevs: number;
  syncIrqs: number;
  /** Commands that stopped the queue (CONS.ERR set, GERROR.CMDQ_ERR activated). */
  errors: number;
  /** Consumed commands by opcode name. */
  byOp: Record<string, number>;
}

/** Defined bits per opcode as u32 words [dw0 lo, dw0 hi, dw1 lo, dw1 hi]. */
const DEFINED: (Uint32Array | undefined)[] = [];
for (const [op, [m0, m1]] of Object.entries(CMD_DEFINED_BITS)) {
  DEFINED[Number(op)] = Uint32Array.of(Number(m0! & 0xffff_ffffn), Number(m0! >> 32n), Number(m1! & 0xffff_ffffn), Number(m1! >> 32n));
}

const ERR_SHIFT = 24;
const OK = 0;

export class CommandConsumer {
  readonly stats: CmdqStats = { consumed: 0, syncs: 0, msiWrites: 0, sevs: 0, syncIrqs: 0, errors: 0, byOp: {} };
  private readonly w = new Uint32Array(4);
  private readonly pair = new Uint32Array(2);
  private readonly tp: Tracepoint | null;
  private busy = false;
  private again = false;
  /** Range of the TLBI being executed: first page and page count. */
  private rangePfn = 0;
  private rangePages = 0;

  constructor(private readonly smmu: SmmuV3) {
    this.tp = smmu.trace?.point('smmuv3_cmd', 'smmuv3') ?? null;
  }

  /** Runs commands until the queue is empty, disabled or stopped by an error (called on PROD writes). */
  consume(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        this.run();
      } while (this.again);
    } finally {
      this.busy = false;
    }
  }

  private run(): void {
    const r = this.smmu.regs;
    const mem = this.smmu.mem;
    const w = this.w;
    for (;;) {
      if ((r.cr0 & CR0_CMDQEN) === 0 || ((r.gerror ^ r.gerrorn) & GERROR_CMDQ_ERR) !== 0) return;
      const log2 = r.cmdqLog2;
      if (queueEmpty(r.cmdqProd, r.cmdqCons, log2)) return;
      const at = r.cmdqBaseAddr + queueIdx(r.cmdqCons, log2) * CMDQ_ENT_SIZE;
      if (!mem.read64(at, this.pair)) return this.stop(CERROR_ABT);
      w[0] = this.pair[0]!;
      w[1] = this.pair[1]!;
      if (!mem.read64(at + 8, this.pair)) return this.stop(CERROR_ABT);
      w[2] = this.pair[0]!;
      w[3] = this.pair[1]!;
      const name = CMDQ_OP_NAMES[w[0]! & 0xff] ?? 'UNKNOWN';
      if (this.tp?.enabled) this.tp.emit({ cons: r.cmdqCons, op: name, d0: hex(w[1]!, w[0]!), d1: hex(w[3]!, w[2]!) });
      const err = this.exec(w[0]!, w[1]!, w[2]!, w[3]!);
      if (err !== OK) return this.stop(err);
      r.cmdqCons = queueInc(queuePos(r.cmdqCons, log2), log2);
      this.stats.consumed++;
      this.stats.byOp[name] = (this.stats.byOp[name] ?? 0) + 1;
    }
  }

  /** CONS stays at the failing command with ERR set; GERROR.CMDQ_ERR activates until GERRORN acknowledges. */
  private stop(err: number): void {
    const r = this.smmu.regs;
    r.cmdqCons = (queuePos(r.cmdqCons, r.cmdqLog2) | (err << ERR_SHIFT)) >>> 0;
    this.stats.errors++;
    this.smmu.raiseGerror(GERROR_CMDQ_ERR);
  }

  /** Executes one command; returns OK or the CERROR code. */
  private exec(w0: number, w1: number, w2: number, w3: number): number {
    const op = w0 & 0xff;
    const def = DEFINED[op];
    if (!def || (w0 & ~def[0]!) !== 0 || (w1 & ~def[1]!) !== 0 || (w2 & ~def[2]!) !== 0 || (w3 & ~def[3]!) !== 0) return CERROR_ILL;
    const s = this.smmu;
    const hw = s.cfg;
    const ssv = (w0 & 0x800) !== 0;
    if (ssv && hw.ssidSize === 0) return CERROR_ILL;
    const sid = w1;
    const ssid = (w0 >>> 12) & 0xfffff;
    const vmid = w1 & 0xffff;
    const asid = w1 >>> 16;
    if (op >= CMDQ_OP.TLBI_NH_ALL && op <= CMDQ_OP.TLBI_S2_IPA && ((!hw.vmid16 && vmid > 0xff) || (!hw.asid16 && asid > 0xff))) return CERROR_ILL;
    switch (op) {
      case CMDQ_OP.PREFETCH_CONFIG:
      case CMDQ_OP.PREFETCH_ADDR:
        return OK;
      case CMDQ_OP.CFGI_STE:
        s.configCache.invalidateSte(sid);
        return OK;
      case CMDQ_OP.CFGI_STE_RANGE: {
        const n = 2 ** ((w2 & 0x1f) + 1);
        s.configCache.invalidateSteRange(sid - (sid % n), n);
        return OK;
      }
      case CMDQ_OP.CFGI_CD:
        s.configCache.invalidateCd(sid, ssid);
        return OK;
      case CMDQ_OP.CFGI_CD_ALL:
        s.configCache.invalidateCdAll(sid);
        return OK;
      case CMDQ_OP.TLBI_NH_ALL:
        if (!hw.s1p) return CERROR_ILL;
        s.tlb.nhAll(vmid);
        return OK;
      case CMDQ_OP.TLBI_NH_ASID:
        if (!hw.s1p) return CERROR_ILL;
        s.tlb.nhAsid(vmid, asid);
        return OK;
      case CMDQ_OP.TLBI_NH_VA:
      case CMDQ_OP.TLBI_NH_VAA:
        if (!hw.s1p || !this.range(w0, w2, w3 * 1048576 + (w2 >>> 12))) return CERROR_ILL;
        if (op === CMDQ_OP.TLBI_NH_VA) s.tlb.nhVa(vmid, asid, this.rangePfn, this.rangePages);
        else s.tlb.nhVaa(vmid, this.rangePfn, this.rangePages);
        return OK;
      case CMDQ_OP.TLBI_S12_VMALL:
        if (!hw.s2p) return CERROR_ILL;
        s.tlb.s12Vmall(vmid);
        return OK;
      case CMDQ_OP.TLBI_S2_IPA:
        if (!hw.s2p || !this.range(w0, w2, (w3 & 0xfffff) * 1048576 + (w2 >>> 12))) return CERROR_ILL;
        s.tlb.s2Ipa(vmid, this.rangePfn, this.rangePages);
        return OK;
      case CMDQ_OP.TLBI_NSNH_ALL:
        s.tlb.all();
        return OK;
      case CMDQ_OP.ATC_INV:
        return hw.ats && (w2 & 0x3f) <= 52 ? OK : CERROR_ILL;
      case CMDQ_OP.PRI_RESP:
        if (!hw.pri || ((w2 >>> 12) & 3) === 3) return CERROR_ILL;
        s.priq.respond(w0, sid, w2);
        return OK;
      case CMDQ_OP.RESUME:
        if (hw.stallModel === 1 || ((w0 >>> 12) & 3) === 3) return CERROR_ILL;
        s.resolveStall(w2 & 0xffff, sid, false);
        return OK;
      case CMDQ_OP.STALL_TERM:
        if (hw.stallModel === 1) return CERROR_ILL;
        s.resolveStall(0, sid, true);
        return OK;
      case CMDQ_OP.CMD_SYNC:
        return this.sync(w0, w1, w2, w3);
      default:
        return CERROR_ILL;
    }
  }

  /** NUM/SCALE/TG/TTL (IHI0070 4.4.1): sets rangePfn/rangePages; false for a reserved combination. */
  private range(w0: number, w2: number, pfn: number): boolean {
    const num = (w0 >>> 12) & 0x1f;
    const scale = (w0 >>> 20) & 0x3f;
    const ttl = (w2 >>> 8) & 3;
    const tg = (w2 >>> 10) & 3;
    this.rangePfn = pfn;
    this.rangePages = 1;
    if (!this.smmu.cfg.ril || tg === 0) return (num | scale | ttl | tg) === 0;
    if ((num | scale | ttl) === 0 || scale > 31 || (tg === 2 && ttl === 1)) return false;
    const granulePages = tg === 1 ? 1 : tg === 2 ? 4 : 16;
    this.rangePages = (num + 1) * 2 ** scale * granulePages;
    return true;
  }

  /** CMD_SYNC: everything before it is done; signal by MSI write, wired interrupt or SEV. */
  private sync(w0: number, w1: number, w2: number, w3: number): number {
    const cs = (w0 >>> 12) & 3;
    if (cs === 3) return CERROR_ILL;
    const s = this.smmu;
    this.stats.syncs++;
    if (cs === 2) this.stats.sevs++;
    if (cs === 1) {
      const addr = (w3 & 0xfffff) * 4294967296 + ((w2 & ~3) >>> 0);
      if (s.cfg.msi && addr !== 0) {
        if (!s.mem.contains(addr, 4)) s.raiseGerror(GERROR_MSI_CMDQ_ABT_ERR);
        else {
          s.mem.setU32(addr, w1);
          this.stats.msiWrites++;
        }
      } else {
        this.stats.syncIrqs++;
        s.raise('cmdSync');
      }
    }
    return OK;
  }
}

function hex(hi: number, lo: number): string {
  return '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}
