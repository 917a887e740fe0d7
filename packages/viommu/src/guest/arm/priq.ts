// The guest's PRI queue (arm_smmu_priq_thread and arm_smmu_handle_ppr of the SVA series' PRI patch): the queue in
// guest RAM, its wired interrupt, each record the vSMMU wrote handed to the I/O page fault handler, and the answer
// as CMD_PRI_RESP (no CMD_SYNC: a response is fire and forget).
import { PRI_RESP_DENY, PRI_RESP_FAIL, PRI_RESP_SUCC, SMMU_REG } from '@iommu-lab/hw-smmuv3/format';
import { IOMMU_PAGE_RESP_INVALID, IOMMU_PAGE_RESP_SUCCESS } from '@iommu-lab/iommu-core';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestMmio } from '../mmio-regs.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import { type GuestCmdq, GuestQueue } from './cmdq.js';
import { CmdBatch } from './cmds.js';

const OVF = 0x8000_0000;

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
        q.cons = ((q.cons & OVF) | q.inc(q.cons, 1)) >>> 0;
        this.regs.writel(SMMU_REG.PRIQ_CONS, q.cons);
        this.handle(rec);
      }
      const prod = this.regs.readl(SMMU_REG.PRIQ_PROD);
      if ((prod & OVF) !== (q.prod & OVF)) this.overflows++;
      q.prod = prod;
    } while (!q.empty());
    if ((q.prod & OVF) !== (q.cons & OVF)) {
      q.cons = ((q.prod & OVF) | (q.cons & ~OVF)) >>> 0;
      this.regs.writel(SMMU_REG.PRIQ_CONS, q.cons);
    }
  }

  /** PRIQ_0_SID [31:0], SSID [51:32], PERM_PRIV 58, EXEC 59, READ 60, WRITE 61, PRG_LAST 62, SSID_V 63; PRIQ_1 PRG_IDX, ADDR. */
  private decode(gpa: number): GuestPpr {
    const d0 = this.ram.u64(gpa);
    const d1 = this.ram.u64(gpa + 8);
    const hi = Number(d0 >> 32n);
    const ssv = (hi & (1 << 31)) !== 0;
    return {
      sid: Number(d0 & 0xffff_ffffn),
      ssid: ssv ? hi & 0xfffff : -1,
      addr: d1 & ~0xfffn,
      priv: (hi & (1 << 26)) !== 0,
      exec: (hi & (1 << 27)) !== 0,
      read: (hi & (1 << 28)) !== 0,
      write: (hi & (1 << 29)) !== 0,
      last: (hi & (1 << 30)) !== 0,
      prgi: Number(d1 & 0x1ffn),
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
