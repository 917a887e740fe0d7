// The guest's DMAR fault interrupt handler (Linux dmar_fault): reads each pending fault recording register
// from FSTS.FRI on, logs it as the kernel prints it, clears F, then clears FSTS.
import { DMA_FSTS_PFO, DMA_FSTS_PPF, DMA_FSTS_PRO, DMAR_FSTS_REG, FaultRecord, vtdFaultReasonName } from '@iommu-lab/hw-vtd/format';
import type { GuestMmio } from '../mmio-regs.js';

const DMA_FRCD_F = 0x8000_0000;

/** A fault as the guest logged it: "[DMA Write NO_PASID] Request device [00:03.0] fault addr 0x... [fault reason 0x..]". */
export interface GuestDmarFault {
  sid: number;
  /** -1: the request had no PASID. */
  pasid: number;
  addr: bigint;
  reason: number;
  reasonName: string;
  type: 'read' | 'write';
}

export class DmarFaultHandler {
  readonly log: GuestDmarFault[] = [];
  /** Fault interrupts taken. */
  interrupts = 0;

  constructor(
    private readonly regs: GuestMmio,
    private readonly froOffset: number,
    private readonly nfr: number,
  ) {}

  handle(): void {
    this.interrupts++;
    const fsts = this.regs.readl(DMAR_FSTS_REG);
    if (fsts & DMA_FSTS_PPF) {
      let index = (fsts >>> 8) & 0xff;
      for (let n = 0; n < this.nfr; n++) {
        const reg = this.froOffset + index * 16;
        const hiHi = this.regs.readl(reg + 12);
        if ((hiHi & DMA_FRCD_F) === 0) break;
        const rec = FaultRecord.decode([this.regs.readq(reg), this.regs.readq(reg + 8)]);
        this.regs.writel(reg + 12, DMA_FRCD_F);
        this.log.push({
          sid: rec.sid,
          pasid: rec.pasidPresent ? rec.pasid : -1,
          addr: rec.faultInfo,
          reason: rec.reason,
          reasonName: vtdFaultReasonName(rec.reason),
          type: rec.type ? 'read' : 'write',
        });
        index = (index + 1) % this.nfr;
      }
    }
    this.regs.writel(DMAR_FSTS_REG, DMA_FSTS_PFO | DMA_FSTS_PPF | DMA_FSTS_PRO);
  }
}
