// Register semantics (VT-d spec 10.4): read-only, write-1-to-clear and command registers over the raw storage.
import { DMA_PRS_PPR, DMA_PRS_PRO, DMAR_PECTL_REG, DMAR_PQA_REG, DMAR_PQH_REG, DMAR_PQT_REG, DMAR_PRS_REG, PQ_OFFSET_MASK } from '../format/page-request.js';
import * as R from '../format/registers.js';
import { writeEventCtl } from './event-ctl.js';
import type { FaultRecordingUnit } from './fault-unit.js';
import type { InvalidationQueue } from './inv-queue.js';
import type { PageRequestQueue } from './prq.js';
import type { RegisterFile } from './register-file.js';

/** What register writes ask of the rest of the hardware. */
export interface MmioControl {
  setTranslation(on: boolean): void;
  /** SRTP: latch RTADDR (address and TTM). */
  setRootTable(rtaddr: bigint): void;
  /** CCMD with ICC set (register-based context-cache invalidation). */
  contextCommand(ccmd: bigint): void;
  /** IOTLB_REG with IVT set, with the IVA register. */
  iotlbCommand(iva: bigint, cmd: bigint): void;
}

const FSTS_RW1C = R.DMA_FSTS_PFO | R.DMA_FSTS_IQE | R.DMA_FSTS_ICE | R.DMA_FSTS_ITE | R.DMA_FSTS_PRO;
const READ_ONLY_64 = new Set([R.DMAR_VER_REG, R.DMAR_CAP_REG, R.DMAR_ECAP_REG, R.DMAR_IQH_REG, R.DMAR_IQER_REG]);

export class VtdMmio {
  private readonly regs64: Set<number>;

  constructor(
    private readonly regs: RegisterFile,
    private readonly faults: FaultRecordingUnit,
    private readonly iq: InvalidationQueue,
    private readonly ctl: MmioControl,
    private readonly fro: number,
    private readonly iro: number,
    private readonly prq: PageRequestQueue | null = null,
  ) {
    this.regs64 = new Set([R.DMAR_CAP_REG, R.DMAR_ECAP_REG, R.DMAR_RTADDR_REG, R.DMAR_CCMD_REG, R.DMAR_IQH_REG, R.DMAR_IQT_REG, R.DMAR_IQA_REG, R.DMAR_IQER_REG, iro, iro + 8]);
    if (prq) for (const r of [DMAR_PQH_REG, DMAR_PQT_REG, DMAR_PQA_REG]) this.regs64.add(r);
    for (let i = 0; i < faults.nfr; i++) {
      this.regs64.add(fro + i * R.FRCD_REG_LEN);
      this.regs64.add(fro + i * R.FRCD_REG_LEN + 8);
    }
  }

  private check(off: number, width: number): void {
    if (!Number.isInteger(off) || off < 0 || off % width !== 0 || off + width > this.regs.size) {
      throw new RangeError(`VT-d register access at 0x${off.toString(16)} (width ${width}) is outside the register set`);
    }
  }

  read32(off: number): number {
    this.check(off, 4);
    if (off === R.DMAR_GCMD_REG) return 0;
    if (off === R.DMAR_FSTS_REG) return this.faults.fsts();
    return this.regs.r32(off);
  }

  read64(off: number): bigint {
    this.check(off, 8);
    return this.regs.r64(off);
  }

  write64(off: number, v: bigint): void {
    this.check(off, 8);
    v = BigInt.asUintN(64, v);
    if (!this.regs64.has(off)) {
      this.write32(off, Number(v & 0xffff_ffffn));
      this.write32(off + 4, Number(v >> 32n));
      return;
    }
    if (READ_ONLY_64.has(off)) return;
    if (off >= this.fro && off < this.fro + this.faults.nfr * R.FRCD_REG_LEN) {
      const index = Math.floor((off - this.fro) / R.FRCD_REG_LEN);
      if ((off - this.fro) % R.FRCD_REG_LEN === 8) this.faults.writeHigh(index, Number(v >> 32n));
      return;
    }
    switch (off) {
      case R.DMAR_CCMD_REG:
        if ((v & R.DMA_CCMD_ICC) !== 0n && !this.iq.enabled) this.ctl.contextCommand(v);
        this.regs.w64(off, v & ~R.DMA_CCMD_ICC);
        return;
      case R.DMAR_IQT_REG:
        this.regs.w64(off, v & 0x7fff0n);
        this.iq.run();
        return;
      case R.DMAR_IQA_REG:
        if (!this.iq.enabled) this.regs.w64(off, v & ~0x7f8n);
        return;
      case DMAR_PQH_REG:
      case DMAR_PQT_REG:
        this.regs.w64(off, v & BigInt(PQ_OFFSET_MASK));
        return;
      case DMAR_PQA_REG:
        // 10.4.33: bits 11:3 are reserved.
        this.regs.w64(off, v & ~0xff8n);
        return;
      case this.iro + 8:
        if ((v & R.DMA_TLB_IVT) !== 0n && !this.iq.enabled) this.ctl.iotlbCommand(this.regs.r64(this.iro), v);
        this.regs.w64(off, v & ~R.DMA_TLB_IVT);
        return;
      default:
        this.regs.w64(off, v);
    }
  }

  write32(off: number, v: number): void {
    this.check(off, 4);
    v >>>= 0;
    const base64 = off & ~7;
    if (this.regs64.has(base64)) {
      const cur = this.regs.r64(base64);
      const merged = off === base64 ? (cur & 0xffff_ffff_0000_0000n) | BigInt(v) : (cur & 0xffff_ffffn) | (BigInt(v) << 32n);
      this.write64(base64, merged);
      return;
    }
    switch (off) {
      case R.DMAR_GCMD_REG:
        this.globalCommand(v);
        return;
      case R.DMAR_GSTS_REG:
        return;
      case R.DMAR_FSTS_REG: {
        const clear = v & FSTS_RW1C;
        const was = this.regs.r32(off);
        this.regs.w32(off, was & ~clear);
        if ((clear & R.DMA_FSTS_IQE) !== 0 && (was & R.DMA_FSTS_IQE) !== 0) this.iq.run();
        return;
      }
      case R.DMAR_FECTL_REG:
        this.faults.writeFectl(v);
        return;
      case DMAR_PRS_REG:
        if (this.prq) this.regs.set32(off, v & (DMA_PRS_PPR | DMA_PRS_PRO), false);
        return;
      case DMAR_PECTL_REG:
        this.prq?.writePectl(v);
        return;
      case R.DMAR_ICS_REG:
        if ((v & R.DMA_ICS_IWC) !== 0) this.regs.set32(off, R.DMA_ICS_IWC, false);
        return;
      case R.DMAR_IECTL_REG:
        if (writeEventCtl(this.regs, off, v)) this.iq.onInterrupt?.();
        return;
      default:
        this.regs.w32(off, v);
    }
  }

  /** GCMD (10.4.4): level bits TE/QIE/IRE/CFI/EAFL mirror into GSTS; SRTP and WBF are one-shot commands. */
  private globalCommand(v: number): void {
    let sts = this.regs.r32(R.DMAR_GSTS_REG);
    if ((v & R.DMA_GCMD_SRTP) !== 0) {
      this.ctl.setRootTable(this.regs.r64(R.DMAR_RTADDR_REG));
      sts |= R.DMA_GSTS_RTPS;
    }
    const te = (v & R.DMA_GCMD_TE) !== 0;
    if (te !== ((sts & R.DMA_GSTS_TES) !== 0)) {
      sts = te ? sts | R.DMA_GSTS_TES : sts & ~R.DMA_GSTS_TES;
      this.ctl.setTranslation(te);
    }
    const mirrored = R.DMA_GCMD_IRE | R.DMA_GCMD_CFI | R.DMA_GCMD_EAFL;
    sts = (sts & ~mirrored) | (v & mirrored);
    const qie = (v & R.DMA_GCMD_QIE) !== 0;
    sts = qie ? sts | R.DMA_GSTS_QIES : sts & ~R.DMA_GSTS_QIES;
    this.regs.w32(R.DMAR_GSTS_REG, sts >>> 0);
    if (qie !== this.iq.enabled) this.iq.setEnabled(qie);
  }
}
