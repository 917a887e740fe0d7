// Queued invalidation (VT-d spec 6.5.2): fetches descriptors from IQA between IQH and IQT and applies them.
import type { PhysMem, Tracepoint } from '@iommu-lab/platform';
import { hasReservedBits } from '../format/bitfield.js';
import {
  ContextCacheInvDesc,
  INV_DESC_RESERVED,
  invDescType,
  InvWaitDesc,
  IotlbInvDesc,
  PasidCacheInvDesc,
  PasidIotlbInvDesc,
  QI_CC_TYPE,
  QI_DEIOTLB_TYPE,
  QI_DIOTLB_TYPE,
  QI_EIOTLB_TYPE,
  QI_IEC_TYPE,
  QI_IOTLB_TYPE,
  QI_IWD_TYPE,
  QI_PC_TYPE,
  QI_PGRP_RESP_TYPE,
} from '../format/inv-desc.js';
import {
  DMA_FSTS_IQE,
  DMA_ICS_IWC,
  DMAR_ICS_REG,
  DMAR_IECTL_REG,
  DMAR_FSTS_REG,
  DMAR_IQA_REG,
  DMAR_IQER_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  IQEI,
  IqaReg,
  IqerReg,
} from '../format/registers.js';
import type { ContextCache } from './context-cache.js';
import { raiseEvent } from './event-ctl.js';
import type { PasidCache } from './pasid-cache.js';
import type { RegisterFile } from './register-file.js';
import type { VtdTlbs } from './tlbs.js';

export interface IqCaches {
  ctx: ContextCache;
  pasid: PasidCache;
  tlbs: VtdTlbs;
}

export interface IqLimits {
  mamv: number;
  psi: boolean;
}

export class InvalidationQueue {
  /** GSTS.QIES. */
  enabled = false;
  /** Descriptors processed, by type (index = type). */
  readonly processed = new Uint32Array(16);
  errors = 0;
  /** Invalidation completion event (a wait descriptor with IF). */
  onInterrupt: (() => void) | null = null;
  /** Page group responses the hardware forwarded to devices. */
  onPageResponse: ((qw: readonly bigint[]) => void) | null = null;

  constructor(
    private readonly mem: PhysMem,
    private readonly regs: RegisterFile,
    private readonly caches: IqCaches,
    private readonly limits: IqLimits,
    private readonly tp: Tracepoint,
  ) {}

  /** GCMD.QIE: enabling starts from IQH = 0. */
  setEnabled(on: boolean): void {
    if (on && !this.enabled) this.regs.w64(DMAR_IQH_REG, 0n);
    this.enabled = on;
    if (on) this.run();
  }

  /** Processes descriptors until IQH reaches IQT or a descriptor error stops the queue (FSTS.IQE). */
  run(): void {
    if (!this.enabled || (this.regs.r32(DMAR_FSTS_REG) & DMA_FSTS_IQE) !== 0) return;
    const iqa = IqaReg.decode(this.regs.r64(DMAR_IQA_REG));
    const shift = 4 + iqa.dw;
    const entries = IqaReg.entries(iqa);
    const tailReg = Number(this.regs.r64(DMAR_IQT_REG) & 0x7fff0n);
    if (iqa.dw === 1 && (tailReg & 0x10) !== 0) return this.error(IQEI.TAIL_MISALIGNED);
    const tail = tailReg >>> shift;
    if (tail >= entries) return this.error(IQEI.INVALID_TAIL_POINTER);
    let head = Number(this.regs.r64(DMAR_IQH_REG)) >>> shift;
    const base = Number(iqa.base);
    const qwords = iqa.dw === 1 ? 4 : 2;
    while (head !== tail) {
      const pa = base + (head << shift);
      if (!this.mem.contains(pa, qwords * 8)) return this.error(IQEI.DESCRIPTOR_FETCH_ERROR);
      const qw: bigint[] = [];
      for (let i = 0; i < qwords; i++) qw.push(this.mem.u64(pa + i * 8));
      const err = this.execute(qw, iqa.dw === 1);
      if (err !== 0) return this.error(err);
      head = (head + 1) % entries;
      this.regs.w64(DMAR_IQH_REG, BigInt(head << shift));
    }
  }

  private error(iqei: number): void {
    this.errors++;
    this.regs.set32(DMAR_FSTS_REG, DMA_FSTS_IQE, true);
    this.regs.w64(DMAR_IQER_REG, IqerReg.encode({ iqei }));
    if (this.tp.enabled) this.tp.emit({ error: 'IQE', iqei });
  }

  /** Applies one descriptor; returns 0 or the IQEI code of its error. */
  private execute(qw: bigint[], wide: boolean): number {
    const type = invDescType(qw[0]!);
    const reserved = INV_DESC_RESERVED[type];
    if (!reserved) return IQEI.INVALID_DESCRIPTOR_TYPE;
    if (!wide && (type === QI_EIOTLB_TYPE || type === QI_PC_TYPE || type === QI_DEIOTLB_TYPE || type === QI_PGRP_RESP_TYPE)) {
      return IQEI.INVALID_DESCRIPTOR_WIDTH;
    }
    if (hasReservedBits(qw, reserved)) return IQEI.RESERVED_FIELD;
    if (this.tp.enabled) this.tp.emit({ type, qw0: `0x${qw[0]!.toString(16)}`, qw1: `0x${qw[1]!.toString(16)}` });
    const { ctx, pasid, tlbs } = this.caches;
    switch (type) {
      case QI_CC_TYPE: {
        const d = ContextCacheInvDesc.decode(qw);
        if (d.g === 0) return IQEI.RESERVED_FIELD;
        // Scalable-mode context entries carry no DID: domain-selective acts globally.
        if (d.g === 3) ctx.invalidateDevice(d.sid, d.fm);
        else ctx.invalidateAll();
        break;
      }
      case QI_IOTLB_TYPE: {
        const d = IotlbInvDesc.decode(qw);
        if (d.g === 0 || (d.g === 3 && d.am > this.limits.mamv)) return IQEI.RESERVED_FIELD;
        if (d.g === 1) tlbs.invalidateAll();
        else if (d.g === 2 || !this.limits.psi) tlbs.invalidateDomain(d.did);
        else {
          const n = 2 ** d.am;
          const first = Math.floor(Number(d.addr >> 12n) / n) * n;
          tlbs.invalidateDomainPages(d.did, first, n, d.ih);
        }
        break;
      }
      case QI_EIOTLB_TYPE: {
        const d = PasidIotlbInvDesc.decode(qw);
        if (d.g !== 2 && d.g !== 3) return IQEI.RESERVED_FIELD;
        const n = 2 ** d.am;
        const first = Math.floor(Number(d.addr >> 12n) / n) * n;
        tlbs.invalidatePasid(d.did, d.pasid, first, n, d.g === 2, d.ih);
        break;
      }
      case QI_PC_TYPE: {
        const d = PasidCacheInvDesc.decode(qw);
        if (d.g === 2) return IQEI.RESERVED_FIELD;
        if (d.g === 3) pasid.invalidateAll();
        else pasid.invalidate(d.did, d.g === 1 ? d.pasid : -1);
        break;
      }
      case QI_IWD_TYPE:
        if (!this.wait(qw)) return IQEI.RESERVED_FIELD;
        break;
      case QI_PGRP_RESP_TYPE:
        this.onPageResponse?.(qw);
        break;
      case QI_DIOTLB_TYPE:
      case QI_DEIOTLB_TYPE:
      case QI_IEC_TYPE:
        // Device-TLBs and the interrupt entry cache are not modelled: nothing is cached there.
        break;
    }
    this.processed[type]!++;
    return 0;
  }

  /** Invalidation wait: status write (SW), completion interrupt (IF), fence (FN: in order here anyway). */
  private wait(qw: bigint[]): boolean {
    const d = InvWaitDesc.decode(qw);
    if (!d.sw && !d.if && !d.fn) return false;
    if (d.sw) {
      const pa = Number(d.statusAddr);
      if (!this.mem.contains(pa, 4)) return false;
      this.mem.setU32(pa, d.statusData);
    }
    if (d.if) {
      this.regs.set32(DMAR_ICS_REG, DMA_ICS_IWC, true);
      if (raiseEvent(this.regs, DMAR_IECTL_REG)) this.onInterrupt?.();
    }
    return true;
  }
}
