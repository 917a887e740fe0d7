// The guest's SMMUv3 interrupt handlers (Linux arm_smmu_evtq_thread, arm_smmu_decode_event, arm_smmu_gerror_handler):
// event records read from the event queue in guest RAM into the fault log, CONS written back after each one;
// global errors acknowledged in GERRORN, an illegal command replaced by a CMD_SYNC so the queue moves on.
import { EVT_CLASS_NAMES, eventName, GERROR_CMDQ_ERR, GERROR_ERR_MASK, SMMU_REG } from '@iommu-lab/hw-smmuv3/format';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestDmarFault } from '../intel/fault.js';
import type { GuestMmio } from '../mmio-regs.js';
import type { GuestQueue } from './cmdq.js';
import { CMDQ_SYNC_0_CS_SEV, CmdBatch } from './cmds.js';

/** An SMMU event as the guest decoded it; sid/pasid/addr/reason/type read like a VT-d fault record. */
export interface GuestSmmuEvent extends GuestDmarFault {
  /** The IPA of a stage-2 fault (dword 3), else 0. */
  ipa: bigint;
  s2: boolean;
  /** CLASS: CD, TTD or IN. */
  class: string;
  /** The raw record (4 dwords). */
  raw: bigint[];
}

const OVF = 0x8000_0000;
const CERROR_NAMES = ['No error', 'Illegal command', 'Abort on command fetch', 'ATC invalidate timeout'];

export class ArmSmmuEvents {
  readonly log: GuestSmmuEvent[] = [];
  /** What the kernel would print with dev_err/dev_warn. */
  readonly messages: string[] = [];
  evtqInterrupts = 0;
  gerrorInterrupts = 0;
  overflows = 0;
  private readonly skip = new CmdBatch();

  constructor(
    private readonly ram: GuestRam,
    private readonly regs: GuestMmio,
    private readonly evtq: GuestQueue,
    private readonly cmdq: GuestQueue,
  ) {}

  /** arm_smmu_evtq_thread. */
  evtqThread(): void {
    this.evtqInterrupts++;
    const q = this.evtq;
    do {
      while (!q.empty()) {
        this.record(q.entry(q.cons));
        q.cons = ((q.cons & OVF) | q.inc(q.cons, 1)) >>> 0;
        this.regs.writel(SMMU_REG.EVENTQ_CONS, q.cons);
      }
      const prod = this.regs.readl(SMMU_REG.EVENTQ_PROD);
      if ((prod & OVF) !== (q.prod & OVF)) {
        this.overflows++;
        this.messages.push('EVTQ overflow detected -- events lost');
      }
      q.prod = prod;
    } while (!q.empty());
    // queue_sync_cons_ovf: acknowledge an overflow we have caught up with.
    if ((q.prod & OVF) !== (q.cons & OVF)) {
      q.cons = ((q.prod & OVF) | (q.cons & ~OVF)) >>> 0;
      this.regs.writel(SMMU_REG.EVENTQ_CONS, q.cons);
    }
  }

  /** arm_smmu_decode_event: EVTQ_0_ID/SID/SSV/SSID, EVTQ_1_RnW/S2/CLASS, EVTQ_2_ADDR, EVTQ_3_IPA. */
  private record(gpa: number): void {
    const raw = [0, 1, 2, 3].map((i) => this.ram.u64(gpa + 8 * i));
    const d0 = raw[0]!;
    const d1 = raw[1]!;
    const id = Number(d0 & 0xffn);
    const ssv = (d0 >> 11n) & 1n;
    const ev: GuestSmmuEvent = {
      sid: Number(d0 >> 32n),
      pasid: ssv ? Number((d0 >> 12n) & 0xfffffn) : -1,
      addr: raw[2]!,
      reason: id,
      reasonName: eventName(id),
      type: (d1 >> 35n) & 1n ? 'read' : 'write',
      ipa: raw[3]! & 0x000f_ffff_ffff_f000n,
      s2: ((d1 >> 39n) & 1n) === 1n,
      class: EVT_CLASS_NAMES[Number((d1 >> 40n) & 3n)] ?? '?',
      raw,
    };
    this.log.push(ev);
    this.messages.push(`event: ${ev.reasonName} sid: 0x${ev.sid.toString(16)} ssid: 0x${Math.max(ev.pasid, 0).toString(16)} iova: 0x${ev.addr.toString(16)} ipa: 0x${ev.ipa.toString(16)}`);
  }

  /** arm_smmu_gerror_handler. */
  gerrorHandler(): void {
    this.gerrorInterrupts++;
    const gerror = this.regs.readl(SMMU_REG.GERROR);
    const gerrorn = this.regs.readl(SMMU_REG.GERRORN);
    const active = (gerror ^ gerrorn) & GERROR_ERR_MASK;
    if (!active) return;
    this.messages.push(`unexpected global error reported (0x${active.toString(16).padStart(8, '0')}), this could be serious`);
    if (active & GERROR_CMDQ_ERR) this.skipErr();
    this.regs.writel(SMMU_REG.GERRORN, gerror);
  }

  /** arm_smmu_cmdq_skip_err: log CMDQ_CONS.ERR; an illegal command becomes a CMD_SYNC (CS = SEV) in place. */
  private skipErr(): void {
    const cons = this.regs.readl(SMMU_REG.CMDQ_CONS);
    const idx = (cons >>> 24) & 0x7f;
    this.messages.push(`CMDQ error (cons 0x${cons.toString(16).padStart(8, '0')}): ${CERROR_NAMES[idx] ?? 'Unknown'}`);
    // Abort on fetch: retried; ATC invalidation timeout: the CMD_SYNC is repeated; none: nothing to do.
    if (idx !== 1) return;
    const gpa = this.cmdq.entry(cons);
    this.messages.push(`skipping command in error state: 0x${this.ram.u64(gpa).toString(16)} 0x${this.ram.u64(gpa + 8).toString(16)}`);
    this.skip.num = 0;
    this.skip.sync(CMDQ_SYNC_0_CS_SEV, 0);
    this.ram.write64(gpa, this.skip.words[0]!, this.skip.words[1]!);
    this.ram.write64(gpa + 8, this.skip.words[2]!, this.skip.words[3]!);
    this.skip.num = 0;
  }
}
