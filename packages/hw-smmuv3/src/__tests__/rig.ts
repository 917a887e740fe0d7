// A bare SMMU on a small machine, programmed by hand (no driver): tables written with the format codecs.
import { A64PageTable, PhysMem, type PtMemory, Tracer } from '@iommu-lab/platform';
import { Cd } from '../format/cd.js';
import { type CmdName, encodeCmd } from '../format/cmd.js';
import { Evt } from '../format/event.js';
import { queueIdx, queueInc } from '../format/queue.js';
import { CR0_CMDQEN, CR0_EVTQEN, CR0_SMMUEN, IRQ_CTRL_EVTQ_IRQEN, IRQ_CTRL_GERROR_IRQEN, SMMU_REG } from '../format/registers.js';
import { Ste } from '../format/ste.js';
import type { SmmuHwConfig } from '../hw/config.js';
import { SmmuV3 } from '../hw/smmu.js';

export const MiB = 2 ** 20;

export interface RigOptions {
  memory?: number;
  cmdqLog2?: number;
  evtqLog2?: number;
  strtabLog2?: number;
}

/** A linear stream table, a command queue and an event queue in RAM, and a page allocator. */
export class Rig {
  readonly mem: PhysMem;
  readonly trace = new Tracer();
  readonly smmu: SmmuV3;
  readonly strtab: number;
  readonly cmdq: number;
  readonly evtq: number;
  readonly cmdqLog2: number;
  readonly evtqLog2: number;
  private next = 0x100;

  constructor(cfg: Partial<SmmuHwConfig> = {}, opts: RigOptions = {}) {
    this.mem = new PhysMem(opts.memory ?? 64 * MiB);
    this.smmu = new SmmuV3(this.mem, cfg, this.trace);
    this.cmdqLog2 = opts.cmdqLog2 ?? 4;
    this.evtqLog2 = opts.evtqLog2 ?? 4;
    const strtabLog2 = opts.strtabLog2 ?? 8;
    this.strtab = this.alloc(Math.max(1, (2 ** strtabLog2 * 64) / 4096)) * 4096;
    this.cmdq = this.alloc(1) * 4096;
    this.evtq = this.alloc(1) * 4096;
    const s = this.smmu;
    s.write64(SMMU_REG.STRTAB_BASE, BigInt(this.strtab));
    s.write32(SMMU_REG.STRTAB_BASE_CFG, strtabLog2);
    s.write64(SMMU_REG.CMDQ_BASE, BigInt(this.cmdq) | BigInt(this.cmdqLog2));
    s.write64(SMMU_REG.EVENTQ_BASE, BigInt(this.evtq) | BigInt(this.evtqLog2));
    s.write32(SMMU_REG.IRQ_CTRL, IRQ_CTRL_EVTQ_IRQEN | IRQ_CTRL_GERROR_IRQEN);
    s.write32(SMMU_REG.CR0, CR0_SMMUEN | CR0_CMDQEN | CR0_EVTQEN);
  }

  /** `pages` zeroed, contiguous, naturally aligned 4 KiB pages; returns the first page number. */
  alloc(pages = 1): number {
    const align = 2 ** Math.ceil(Math.log2(pages));
    const pfn = Math.ceil(this.next / align) * align;
    this.next = pfn + pages;
    return pfn;
  }

  writeDwords(addr: number, dw: readonly bigint[]): void {
    dw.forEach((d, i) => this.mem.setU64(addr + i * 8, d));
  }

  readDwords(addr: number, n: number): bigint[] {
    return Array.from({ length: n }, (_, i) => this.mem.u64(addr + i * 8));
  }

  writeSte(sid: number, f: Parameters<typeof Ste.encode>[0]): void {
    this.writeDwords(this.strtab + sid * 64, Ste.encode(f));
  }

  writeCd(addr: number, f: Parameters<typeof Cd.encode>[0]): void {
    this.writeDwords(addr, Cd.encode(f));
  }

  /** Writes commands at CMDQ_PROD and publishes them (the SMMU consumes them at once). */
  submit(...cmds: (readonly [bigint, bigint])[]): void {
    let prod = this.smmu.read32(SMMU_REG.CMDQ_PROD);
    for (const [d0, d1] of cmds) {
      const at = this.cmdq + queueIdx(prod, this.cmdqLog2) * 16;
      this.mem.setU64(at, d0);
      this.mem.setU64(at + 8, d1);
      prod = queueInc(prod, this.cmdqLog2);
    }
    this.smmu.write32(SMMU_REG.CMDQ_PROD, prod);
  }

  cmd(name: CmdName, fields: Record<string, number | bigint> = {}): [bigint, bigint] {
    return encodeCmd(name, fields);
  }

  /** Pops every record between EVENTQ_CONS and PROD, decoded. */
  events(): ReturnType<typeof Evt.decode>[] {
    const out: ReturnType<typeof Evt.decode>[] = [];
    let cons = this.smmu.read32(SMMU_REG.EVENTQ_CONS);
    const prod = this.smmu.read32(SMMU_REG.EVENTQ_PROD);
    const mask = 2 ** (this.evtqLog2 + 1) - 1;
    while ((cons & mask) !== (prod & mask)) {
      out.push(Evt.decode(this.readDwords(this.evtq + queueIdx(cons, this.evtqLog2) * 32, 4)));
      cons = queueInc(cons, this.evtqLog2);
    }
    this.smmu.write32(SMMU_REG.EVENTQ_CONS, ((cons & mask) | (prod & 0x80000000)) >>> 0);
    return out;
  }

  /** A stage-1 (inputBits 48) or stage-2 page table whose pages come from this rig, in `view` (PA by default). */
  table(stage: 1 | 2, opts: { inputBits?: number; startLevel?: number; view?: PtMemory; alloc?: () => number } = {}): A64PageTable {
    return new A64PageTable(opts.view ?? this.mem, opts.alloc ?? (() => this.alloc()), { stage, inputBits: opts.inputBits ?? 48, startLevel: opts.startLevel });
  }

  translate(sid: number, iova: number, access: number, pasid = -1): number {
    const pfn = this.smmu.translate(sid, pasid, Math.floor(iova / 4096), access);
    return pfn < 0 ? -1 : pfn * 4096 + (iova % 4096);
  }
}

/** A PtMemory over an IPA window [ipaBase, ipaBase + size) that lies at paBase in RAM (guest RAM mapped by stage 2). */
export function ipaView(mem: PhysMem, ipaBase: number, paBase: number): PtMemory {
  return {
    read64: (ipa, out) => mem.read64(ipa - ipaBase + paBase, out),
    write64: (ipa, lo, hi) => mem.write64(ipa - ipaBase + paBase, lo, hi),
  };
}

/** STE fields of a Linux-style S2 configuration: 48-bit IPA starting at level 0 (S2SL0 = 2), OAS 48. */
export function s2Fields(ttb: number, vmid: number) {
  return { s2vmid: vmid, s2t0sz: 16, s2sl0: 2, s2tg: 0, s2ps: 5, s2aa64: 1, s2r: 1, s2ptw: 1, s2ttb: BigInt(ttb) };
}

/** CD fields of a Linux-style S1 context: 48-bit VA, 4 KiB granule, IPS 48, recorded faults. */
export function cdFields(ttb0: number, asid: number) {
  return { t0sz: 16, tg0: 0, ir0: 1, or0: 1, sh0: 3, epd1: 1, v: 1, ips: 5, aa64: 1, r: 1, a: 1, asid, ttb0: BigInt(ttb0) };
}
