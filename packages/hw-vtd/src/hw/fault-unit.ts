// Primary fault logging (VT-d spec 7.2.1): fault recording registers at CAP.FRO, FSTS, and the fault event (FECTL).
import { FaultRecord } from '../format/fault-record.js';
import { DMA_FSTS_PFO, DMA_FSTS_PPF, DMAR_FECTL_REG, DMAR_FSTS_REG, FRCD_REG_LEN } from '../format/registers.js';
import { raiseEvent, writeEventCtl } from './event-ctl.js';
import type { RegisterFile } from './register-file.js';

const FRCD_F_HI = 0x8000_0000;

export class FaultRecordingUnit {
  /** The register hardware writes next (it wraps around NFR registers). */
  private next = 0;
  recorded = 0;
  overflows = 0;
  /** Faults not recorded because FPD was set in a context or PASID entry (qualified faults). */
  suppressed = 0;
  events = 0;
  /** The fault event interrupt (the MSI FEDATA/FEADDR describe); the driver's handler. */
  onEvent: (() => void) | null = null;

  constructor(
    private readonly regs: RegisterFile,
    private readonly fro: number,
    readonly nfr: number,
  ) {}

  private off(index: number): number {
    return this.fro + index * FRCD_REG_LEN;
  }

  /** PPF: some fault recording register holds a fault. */
  pending(): boolean {
    for (let i = 0; i < this.nfr; i++) if ((this.regs.r32(this.off(i) + 12) & FRCD_F_HI) !== 0) return true;
    return false;
  }

  /** FSTS as software reads it: PPF reflects the F bits. */
  fsts(): number {
    const v = this.regs.r32(DMAR_FSTS_REG) & ~DMA_FSTS_PPF;
    return this.pending() ? v | DMA_FSTS_PPF : v;
  }

  /** Records one fault; with every register full, sets PFO and drops it. */
  record(reason: number, sid: number, pasid: number, pagePfn: number, write: boolean, exec: boolean, priv: boolean): void {
    const wasPending = this.pending();
    const off = this.off(this.next);
    if ((this.regs.r32(off + 12) & FRCD_F_HI) !== 0) {
      this.overflows++;
      this.regs.set32(DMAR_FSTS_REG, DMA_FSTS_PFO, true);
      this.raise();
      return;
    }
    const [lo, hi] = FaultRecord.encode({
      faultInfo: BigInt(pagePfn) * 4096n,
      sid,
      priv,
      exe: exec,
      pasidPresent: pasid >= 0,
      pasid: pasid >= 0 ? pasid : 0,
      reason,
      type: !write,
      fault: true,
    });
    this.regs.w64(off, lo!);
    this.regs.w64(off + 8, hi!);
    if (!wasPending) {
      const fsts = this.regs.r32(DMAR_FSTS_REG);
      this.regs.w32(DMAR_FSTS_REG, (fsts & ~0xff00) | (this.next << 8));
    }
    this.next = (this.next + 1) % this.nfr;
    this.recorded++;
    this.raise();
  }

  /** Software wrote a fault recording register: F is write-1-to-clear, the rest is read-only. */
  writeHigh(index: number, hiDword: number): void {
    if ((hiDword & FRCD_F_HI) !== 0) this.regs.set32(this.off(index) + 12, FRCD_F_HI, false);
  }

  /** The fault event: an interrupt unless masked (then FECTL.IP stays pending until unmasked). */
  raise(): void {
    if (raiseEvent(this.regs, DMAR_FECTL_REG)) this.deliver();
  }

  /** FECTL written: unmasking a pending event delivers it. */
  writeFectl(v: number): void {
    if (writeEventCtl(this.regs, DMAR_FECTL_REG, v)) this.deliver();
  }

  private deliver(): void {
    this.events++;
    this.onEvent?.();
  }
}
