// Fault recording and fault events of the emulated unit (vtd_report_dmar_fault / vtd_report_frcd_fault,
// vtd_generate_fault_event): one fault recording register at CAP.FRO, FSTS.PPF/PFO/FRI, FECTL.IP/IM.
import { DMAR_FECTL_REG, DMAR_FEDATA_REG, DMAR_FEADDR_REG, DMAR_FSTS_REG } from '@iommu-lab/hw-vtd/format';
import { DMAR_FRCD_REG_NR, DMAR_FRCD_REG_OFFSET, type VtdCsr } from './regs.js';

export const VTD_FSTS_PFO = 1 << 0;
export const VTD_FSTS_PPF = 1 << 1;
export const VTD_FSTS_IQE = 1 << 4;
export const VTD_FECTL_IM = 1 << 31;
export const VTD_FECTL_IP = 1 << 30;
/** FRCD bit 127 (F) and bit 126 (T: 1 = read) in the high word of the high quad. */
const FRCD_F = 0x8000_0000;
const FRCD_T = 0x4000_0000;

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
    return DMAR_FRCD_REG_OFFSET + index * 16 + 8;
  }

  private isSet(index: number): boolean {
    return (this.csr.raw(this.frcdHi(index) + 4) & FRCD_F) !== 0;
  }

  /** vtd_update_fsts_ppf: PPF follows the F bits. */
  updatePpf(): void {
    let ppf = 0;
    for (let i = 0; i < DMAR_FRCD_REG_NR; i++) if (this.isSet(i)) ppf = VTD_FSTS_PPF;
    this.csr.setClear(DMAR_FSTS_REG, VTD_FSTS_PPF, ppf);
  }

  /** vtd_generate_fault_event, given FSTS before the update. */
  faultEvent(preFsts: number): void {
    if (preFsts & (VTD_FSTS_PPF | VTD_FSTS_PFO | VTD_FSTS_IQE)) return;
    this.csr.setClear(DMAR_FECTL_REG, 0, VTD_FECTL_IP);
    if (this.csr.raw(DMAR_FECTL_REG) & VTD_FECTL_IM) return;
    this.interrupt(this.csr.raw(DMAR_FEADDR_REG) >>> 0, this.csr.raw(DMAR_FEDATA_REG) >>> 0);
    this.csr.setClear(DMAR_FECTL_REG, VTD_FECTL_IP, 0);
  }

  /** vtd_report_dmar_fault: record in the next register unless overflowed or compressed, then signal. */
  report(f: VtdFault): boolean {
    const fsts = this.csr.raw(DMAR_FSTS_REG);
    if (fsts & VTD_FSTS_PFO) return this.drop();
    for (let i = 0; i < DMAR_FRCD_REG_NR; i++) {
      if (this.isSet(i) && (this.csr.raw(this.frcdHi(i)) & 0xffff) === f.sid) return this.drop();
    }
    const idx = this.nextFrcdReg;
    if (this.isSet(idx)) {
      this.csr.setClear(DMAR_FSTS_REG, 0, VTD_FSTS_PFO);
      return this.drop();
    }
    const lo = DMAR_FRCD_REG_OFFSET + idx * 16;
    const page = f.addr & ~0xfffn;
    this.csr.setRaw(lo, Number(page & 0xffff_ffffn));
    this.csr.setRaw(lo + 4, Number(page >> 32n));
    // High quad: SID 15:0, PP 31; FR 39:32, PV 59:40, T 62.
    const pp = f.pasid >= 0;
    const pv = pp ? f.pasid : 0;
    this.csr.setRaw(lo + 8, (f.sid & 0xffff) | (pp ? 0x8000_0000 : 0));
    this.csr.setRaw(lo + 12, ((f.reason & 0xff) | ((pv & 0xfffff) << 8) | (f.write ? 0 : FRCD_T)) >>> 0);
    this.csr.setClear(this.frcdHi(idx) + 4, 0, FRCD_F);
    if (!(fsts & VTD_FSTS_PPF)) this.csr.setClear(DMAR_FSTS_REG, 0xff00, (idx << 8) & 0xff00);
    this.updatePpf();
    this.nextFrcdReg = (idx + 1) % DMAR_FRCD_REG_NR;
    if (!(fsts & VTD_FSTS_PPF)) this.faultEvent(fsts);
    return true;
  }

  private drop(): false {
    this.dropped++;
    return false;
  }
}
