// The PRI queue from the driver side (arm_smmu_priq_thread, arm_smmu_handle_ppr of the SVA series' PRI patch):
// the queue in memory, each page request handed to the IOMMU core (iommu_report_device_fault), and the
// overflow path that drops partial groups.
import {
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_PGFAULT_PERM_EXEC,
  IOMMU_PGFAULT_PERM_PRIV,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
  iommuReportDeviceFault,
  iopfDiscardPartial,
} from '@iommu-lab/iommu-core';
import type { FrameAllocator, PhysMem } from '@iommu-lab/platform';
import { PRI_RESP_DENY, PriqRecord } from '../format/priq.js';
import { PRIQ_ENT_SIZE, Q_OVERFLOW_FLAG, queueEmpty, queueIdx, queueInc, queuePos } from '../format/queue.js';
import { SMMU_REG } from '../format/registers.js';
import type { SmmuMmio } from '../hw/smmu.js';
import { cmdPriResp } from './cmds.js';
import type { ArmSmmuDevice } from './device.js';

type Ppr = ReturnType<typeof PriqRecord.decode>;

/** A request as the thread saw it, for inspection. */
export interface PprRecord {
  sid: number;
  /** -1 without SSV. */
  ssid: number;
  addr: bigint;
  prgi: number;
  perm: number;
  last: boolean;
  /** 'reported' to the core, 'stop-marker' (dropped), or 'unexpected' (no master: denied). */
  outcome: 'reported' | 'stop-marker' | 'unexpected';
}

const LOG_MAX = 256;

export class SmmuPriq {
  readonly base: number;
  readonly log: PprRecord[] = [];
  interrupts = 0;
  overflows = 0;

  constructor(
    private readonly mmio: SmmuMmio,
    private readonly mem: PhysMem,
    frames: FrameAllocator,
    /** log2 of the entries (PRIQ_MAX_SZ_SHIFT capped by IDR1.PRIQS). */
    readonly log2: number,
  ) {
    this.base = frames.alloc(Math.max(0, log2 + 4 - 12)) * 4096;
  }

  /** arm_smmu_priq_thread: every record from CONS to PROD, then the overflow flag acknowledged. */
  thread(smmu: ArmSmmuDevice): void {
    this.interrupts++;
    const m = this.mmio;
    const log2 = this.log2;
    let cons = m.read32(SMMU_REG.PRIQ_CONS);
    // The shadow PROD starts where the last run left it (at CONS, overflow acknowledged): queue_sync_prod_in sees a new OVFLG.
    let prod = cons;
    let overflow = false;
    do {
      while (!queueEmpty(prod, cons, log2)) {
        const at = this.base + queueIdx(cons, log2) * PRIQ_ENT_SIZE;
        const raw = [this.mem.u64(at), this.mem.u64(at + 8)];
        cons = ((cons & Q_OVERFLOW_FLAG) | queuePos(queueInc(cons, log2), log2)) >>> 0;
        m.write32(SMMU_REG.PRIQ_CONS, cons);
        this.handlePpr(smmu, PriqRecord.decode(raw));
      }
      const next = m.read32(SMMU_REG.PRIQ_PROD);
      if ((next & Q_OVERFLOW_FLAG) !== (prod & Q_OVERFLOW_FLAG)) {
        overflow = true;
        this.overflows++;
        smmu.log.push('PRIQ overflow detected -- requests lost');
      }
      prod = next;
    } while (!queueEmpty(prod, cons, log2));
    if ((prod & Q_OVERFLOW_FLAG) !== (cons & Q_OVERFLOW_FLAG)) m.write32(SMMU_REG.PRIQ_CONS, ((cons & ~Q_OVERFLOW_FLAG) | (prod & Q_OVERFLOW_FLAG)) >>> 0);
    // The SMMU may have answered the last request of a group itself: the partial groups cannot complete.
    if (overflow) for (const master of smmu.streams.values()) iopfDiscardPartial(master.dev);
  }

  /** arm_smmu_handle_ppr: a stop marker is dropped; a request of an unknown stream is denied; the rest go to iopf. */
  private handlePpr(smmu: ArmSmmuDevice, e: Ppr): void {
    const perm = (e.read ? IOMMU_PGFAULT_PERM_READ : 0) | (e.write ? IOMMU_PGFAULT_PERM_WRITE : 0) | (e.exec ? IOMMU_PGFAULT_PERM_EXEC : 0) | (e.priv ? IOMMU_PGFAULT_PERM_PRIV : 0);
    const rec: PprRecord = { sid: e.sid, ssid: e.ssv ? e.ssid : -1, addr: e.addr, prgi: e.prgIndex, perm, last: e.last === 1, outcome: 'reported' };
    const master = smmu.streams.get(e.sid);
    if (e.last && !e.read && !e.write) rec.outcome = 'stop-marker';
    else if (!master) rec.outcome = 'unexpected';
    this.log.push(rec);
    if (this.log.length > LOG_MAX) this.log.shift();
    if (rec.outcome === 'unexpected') {
      smmu.log.push(`unexpected PRI request received: sid 0x${e.sid.toString(16)}.0x${rec.ssid < 0 ? 0 : rec.ssid} [${e.prgIndex}${e.last ? 'L' : ''}] at iova 0x${e.addr.toString(16)}`);
      if (e.last) smmu.issue([cmdPriResp(e.sid, e.ssid, e.ssv === 1, e.prgIndex, PRI_RESP_DENY)], false);
      return;
    }
    if (rec.outcome !== 'reported') return;
    const flags = (e.last ? IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE : 0) | (e.ssv ? IOMMU_FAULT_PAGE_REQUEST_PASID_VALID : 0);
    iommuReportDeviceFault(master!.dev, { flags, pasid: e.ssid, grpid: e.prgIndex, perm, addr: e.addr, privateData: { sid: e.sid } });
  }
}
