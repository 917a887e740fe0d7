// The guest's SMMUv3 interrupt handlers (Linux arm_smmu_evtq_thread, arm_smmu_decode_event, arm_smmu_gerror_handler):
// event records read from the event queue in guest RAM into the fault log, CONS written back after each one;
// global errors acknowledged in GERRORN, an illegal command replaced by a CMD_SYNC so the queue moves on.
import { CMD_SYNC_CS_SEV, Evt, EVT_CLASS_NAMES, eventName, GERROR_CMDQ_ERR, GERROR_ERR_MASK, Q_OVERFLOW_FLAG as OVF, SMMU_REG } from '@iommu-lab/hw-smmuv3/format';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestDmarFault } from '../intel/fault.js';
import type { GuestMmio } from '../mmio-regs.js';
import type { GuestQueue } from './cmdq.js';
import { CmdBatch } from './cmds.js';

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
        q.cons = q.inc(q.cons, 1);
        this.regs.writel(SMMU_REG.EVENTQ_CONS, q.cons);
      }
      const prod = this.regs.readl(SMMU_REG.EVENTQ_PROD);
      if ((prod & OVF) !== (q.prod & OVF)) {
        this.overflows++;
        this.messages.push('EVTQ overflow detected -- events lost');
      }
      q.prod = prod;
    } while (!q.empty());
    if (q.syncConsOvf()) this.regs.writel(SMMU_REG.EVENTQ_CONS, q.cons);
  }

  /** arm_smmu_decode_event: EVTQ_0_ID/SID/SSV/SSID, EVTQ_1_RnW/S2/CLASS, EVTQ_2_ADDR, EVTQ_3_IPA. */
  private record(gpa: number): void {
    const raw = [0, 1, 2, 3].map((i) => this.ram.u64(gpa + 8 * i));
    const e = Evt.decode(raw);
    const ev: GuestSmmuEvent = {
      sid: e.sid,
      pasid: e.ssv ? e.ssid : -1,
      addr: e.addr,
      reason: e.type,
      reasonName: eventName(e.type),
      type: e.rnw ? 'read' : 'write',
      // EVTQ_3_IPA [51:12].
      ipa: raw[3]! & 0x000f_ffff_ffff_f000n,
      s2: e.s2 === 1,
      class: EVT_CLASS_NAMES[e.class] ?? '?',
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
    this.skip.sync(CMD_SYNC_CS_SEV, 0);
    this.ram.write64(gpa, this.skip.words[0]!, this.skip.words[1]!);
    this.ram.write64(gpa + 8, this.skip.words[2]!, this.skip.words[3]!);
    this.skip.num = 0;
  }
}
