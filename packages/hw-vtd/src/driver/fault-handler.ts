// dmar_fault (kernel intel/dmar.c): the fault event handler reads and clears the fault recording registers.
import { FaultRecord } from '../format/fault-record.js';
import { vtdFaultReasonName } from '../format/fault-reasons.js';
import * as R from '../format/registers.js';
import type { IntelIommu } from './intel-iommu.js';

/** One fault as the handler logs it ("[DMA Write NO_PASID] Request device [...] fault addr ... [fault reason 0x..]"). */
export interface VtdFaultReport {
  unit: string;
  reason: number;
  reasonName: string;
  sid: number;
  /** -1 when the request had no PASID (IOMMU_PASID_INVALID in the kernel's message). */
  pasid: number;
  address: bigint;
  type: 'read' | 'write';
  exe: boolean;
  priv: boolean;
}

export type VtdFaultListener = (f: VtdFaultReport) => void;

export class DmarFaultHandler {
  readonly log: VtdFaultReport[] = [];
  logLimit = 256;
  handled = 0;
  private readonly listeners = new Set<VtdFaultListener>();

  constructor(private readonly iommu: IntelIommu) {}

  /** A later layer (the vIOMMU, a fault queue) subscribes here; returns the unsubscribe function. */
  onFault(fn: VtdFaultListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The interrupt handler: from FSTS.FRI, every register with F set, each cleared after reading. */
  handle(): void {
    const regs = this.iommu.regs;
    const fsts = regs.read32(R.DMAR_FSTS_REG);
    if (fsts & R.DMA_FSTS_PPF) {
      const base = this.iommu.c.fro * 16;
      const nfr = this.iommu.c.nfr + 1;
      let index = R.fstsFri(fsts);
      for (let n = 0; n < nfr; n++) {
        const off = base + index * R.FRCD_REG_LEN;
        if ((regs.read32(off + 12) & 0x8000_0000) === 0) break;
        const rec = FaultRecord.decode([regs.read64(off), regs.read64(off + 8)]);
        regs.write32(off + 12, 0x8000_0000);
        this.report({
          unit: this.iommu.name,
          reason: rec.reason,
          reasonName: vtdFaultReasonName(rec.reason),
          sid: rec.sid,
          pasid: rec.pasidPresent ? rec.pasid : -1,
          address: rec.faultInfo,
          type: rec.type ? 'read' : 'write',
          exe: rec.exe,
          priv: rec.priv,
        });
        index = (index + 1) % nfr;
      }
    }
    regs.write32(R.DMAR_FSTS_REG, R.DMA_FSTS_PFO | R.DMA_FSTS_PPF | R.DMA_FSTS_PRO);
  }

  private report(f: VtdFaultReport): void {
    this.handled++;
    this.log.push(f);
    if (this.log.length > this.logLimit) this.log.shift();
    for (const fn of this.listeners) fn(f);
  }
}
