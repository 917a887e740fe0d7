// The guest's PRI queue (arm_smmu_priq_thread and arm_smmu_handle_ppr of the SVA series' PRI patch): the queue in
// guest RAM, its wired interrupt, each record the vSMMU wrote handed to the I/O page fault handler, and the answer
// as CMD_PRI_RESP (no CMD_SYNC: a response is fire and forget).
import { PRI_RESP_DENY, PRI_RESP_FAIL, PRI_RESP_SUCC, PriqRecord, Q_OVERFLOW_FLAG as OVF, SMMU_REG } from '@iommu-lab/hw-smmuv3/format';
import { IOMMU_PAGE_RESP_INVALID, IOMMU_PAGE_RESP_SUCCESS } from '@iommu-lab/iommu-core';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestMmio } from '../mmio-regs.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import { type GuestCmdq, GuestQueue } from './cmdq.js';
import { CmdBatch } from './cmds.js';

/** A page request as the guest read it: its StreamID, SubstreamID (-1: none), address and what was asked. */
export interface GuestPpr {
  sid: number;
  ssid: number;
  addr: bigint;
  read: boolean;
  write: boolean;
  exec: boolean;
  priv: boolean;
  prgi: number;
  last: boolean;
}

/** What became of a request: the Resp sent (PRI_RESP_*), or null (a stop marker, or not the group's last page). */
export interface GuestPprRecord extends GuestPpr {
  response: number | null;
}

/** The I/O page fault handler of a stream: IOMMU_PAGE_RESP_SUCCESS or _INVALID for the group. */
export type GuestIopfHandler = (req: GuestPpr) => number;

export interface PriqMaster {
  /** prg_resp_needs_ssid: responses to a PASID request carry the SubstreamID. */
  readonly prgRespNeedsSsid: boolean;
}

export class ArmSmmuPriq {
  readonly q: GuestQueue;
  readonly log: GuestPprRecord[] = [];
  logLimit = 1024;
  interrupts = 0;
  overflows = 0;
  /** The iopf handler SVA registers; without one the core answers INVALID. */
  handler: GuestIopfHandler | null = null;
  private readonly b = new CmdBatch();

  constructor(
    private readonly ram: GuestRam,
    private readonly regs: GuestMmio,
    private readonly cmdq: GuestCmdq,
    pages: GuestPageAllocator,
    shift: number,
    private readonly masters: ReadonlyMap<number, PriqMaster>,
  ) {
    this.q = new GuestQueue(pages, shift, 16);
  }

  /** arm_smmu_priq_thread: records from CONS to PROD (CONS written after each), overflow reported and acknowledged. */
  thread(): void {
    this.interrupts++;
    const q = this.q;
    do {
      while (!q.empty()) {
        const rec = this.decode(q.entry(q.cons));
        q.cons = q.inc(q.cons, 1);
        this.regs.writel(SMMU_REG.PRIQ_CONS, q.cons);
        this.handle(rec);
      }
      const prod = this.regs.readl(SMMU_REG.PRIQ_PROD);
      if ((prod & OVF) !== (q.prod & OVF)) this.overflows++;
      q.prod = prod;
    } while (!q.empty());
    if (q.syncConsOvf()) this.regs.writel(SMMU_REG.PRIQ_CONS, q.cons);
  }

  /** A PRI queue record (IHI0070 8.1). */
  private decode(gpa: number): GuestPpr {
    const r = PriqRecord.decode([this.ram.u64(gpa), this.ram.u64(gpa + 8)]);
    return {
      sid: r.sid,
      ssid: r.ssv ? r.ssid : -1,
      addr: r.addr,
      priv: r.priv === 1,
      exec: r.exec === 1,
      read: r.read === 1,
      write: r.write === 1,
      last: r.last === 1,
      prgi: r.prgIndex,
    };
  }

  /** arm_smmu_handle_ppr: stop markers dropped; unknown streams denied; the rest to the iopf handler. */
  private handle(r: GuestPpr): void {
    let resp: number | null = null;
    const master = this.masters.get(r.sid);
    if (r.last && !r.read && !r.write) {
      // A stop marker: nothing to answer.
    } else if (!master) {
      if (r.last) resp = PRI_RESP_DENY;
    } else {
      const code = this.handler ? this.handler(r) : IOMMU_PAGE_RESP_INVALID;
      if (r.last) resp = code === IOMMU_PAGE_RESP_SUCCESS ? PRI_RESP_SUCC : code === IOMMU_PAGE_RESP_INVALID ? PRI_RESP_FAIL : PRI_RESP_DENY;
    }
    this.log.push({ ...r, response: resp });
    if (this.log.length > this.logLimit) this.log.shift();
    if (resp === null) return;
    // arm_smmu_page_response: the SubstreamID only when the device wants it back.
    const ssv = r.ssid >= 0 && (master?.prgRespNeedsSsid ?? true);
    this.b.priResp(r.sid, r.ssid, ssv, r.prgi, resp);
    this.cmdq.issue(this.b, false);
  }
}
