// Fault recording and fault events of the emulated unit (vtd_report_dmar_fault / vtd_report_frcd_fault,
// vtd_generate_fault_event): one fault recording register at CAP.FRO, FSTS.PPF/PFO/FRI, FECTL.IP/IM.
import { DMA_FECTL_IM, DMA_FECTL_IP, DMA_FSTS_IQE, DMA_FSTS_PFO, DMA_FSTS_PPF, DMAR_FECTL_REG, DMAR_FEDATA_REG, DMAR_FEADDR_REG, DMAR_FSTS_REG, FaultRecord, VTD_FRCD_REG_OFFSET } from '@iommu-lab/hw-vtd/format';
import { DMAR_FRCD_REG_NR, type VtdCsr } from './regs.js';

/** FRCD bit 127 (F) in the high word of the high quad. */
const FRCD_F = 0x8000_0000;

/** A DMA-remapping fault as the guest will read it back: guest SID, PASID and address. */
export interface VtdFault {
  sid: number;
  /** -1 when the request had no PASID. */
  pasid: number;
  /** Faulting address (the page is recorded). */
  addr: bigint;
  reason: number;
  write: boolean;
}

export class VtdFaultUnit {
  nextFrcdReg = 0;
  /** Faults dropped because of overflow (PFO) or compression (same SID pending). */
  dropped = 0;

  constructor(
    private readonly csr: VtdCsr,
    /** Sends the MSI programmed in FEADDR/FEDATA. */
    private readonly interrupt: (addr: number, data: number) => void,
  ) {}

  private frcdHi(index: number): number {
    return VTD_FRCD_REG_OFFSET + index * 16 + 8;
  }

  private isSet(index: number): boolean {
    return (this.csr.raw(this.frcdHi(index) + 4) & FRCD_F) !== 0;
  }

  /** vtd_update_fsts_ppf: PPF follows the F bits. */
  updatePpf(): void {
    let ppf = 0;
    for (let i = 0; i < DMAR_FRCD_REG_NR; i++) if (this.isSet(i)) ppf = DMA_FSTS_PPF;
    this.csr.setClear(DMAR_FSTS_REG, DMA_FSTS_PPF, ppf);
  }

  /** vtd_generate_fault_event, given FSTS before the update. */
  faultEvent(preFsts: number): void {
    if (preFsts & (DMA_FSTS_PPF | DMA_FSTS_PFO | DMA_FSTS_IQE)) return;
    this.csr.setClear(DMAR_FECTL_REG, 0, DMA_FECTL_IP);
    if (this.csr.raw(DMAR_FECTL_REG) & DMA_FECTL_IM) return;
    this.interrupt(this.csr.raw(DMAR_FEADDR_REG) >>> 0, this.csr.raw(DMAR_FEDATA_REG) >>> 0);
    this.csr.setClear(DMAR_FECTL_REG, DMA_FECTL_IP, 0);
  }

  /** vtd_report_dmar_fault: record in the next register unless overflowed or compressed, then signal. */
  report(f: VtdFault): boolean {
    const fsts = this.csr.raw(DMAR_FSTS_REG);
    if (fsts & DMA_FSTS_PFO) return this.drop();
    for (let i = 0; i < DMAR_FRCD_REG_NR; i++) {
      if (this.isSet(i) && (this.csr.raw(this.frcdHi(i)) & 0xffff) === f.sid) return this.drop();
    }
    const idx = this.nextFrcdReg;
    if (this.isSet(idx)) {
      this.csr.setClear(DMAR_FSTS_REG, 0, DMA_FSTS_PFO);
      return this.drop();
    }
    const lo = VTD_FRCD_REG_OFFSET + idx * 16;
    const pp = f.pasid >= 0;
    const [q0, q1] = FaultRecord.encode({
      faultInfo: f.addr & 0xffff_ffff_ffff_f000n,
      sid: f.sid & 0xffff,
      pasidPresent: pp,
      reason: f.reason & 0xff,
      pasid: pp ? f.pasid & 0xfffff : 0,
      type: !f.write,
      fault: true,
    });
    this.csr.setRawQuad(lo, q0!);
    this.csr.setRawQuad(lo + 8, q1!);
    if (!(fsts & DMA_FSTS_PPF)) this.csr.setClear(DMAR_FSTS_REG, 0xff00, (idx << 8) & 0xff00);
    this.updatePpf();
    this.nextFrcdReg = (idx + 1) % DMAR_FRCD_REG_NR;
    if (!(fsts & DMA_FSTS_PPF)) this.faultEvent(fsts);
    return true;
  }

  private drop(): false {
    this.dropped++;
    return false;
  }
}
