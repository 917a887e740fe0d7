// Queued invalidation from the driver side (kernel dmar.c): a 256-entry queue, each submission closed by a wait descriptor.
import type { FrameAllocator, PhysMem } from '@iommu-lab/platform';
import {
  ContextCacheInvDesc,
  DevTlbInvDesc,
  invDescType,
  InvWaitDesc,
  IotlbInvDesc,
  PageGroupResponseDesc,
  PasidCacheInvDesc,
  PasidDevTlbInvDesc,
  PasidIotlbInvDesc,
} from '../format/inv-desc.js';
import { DMA_FSTS_IQE, DMAR_FSTS_REG, DMAR_IQA_REG, DMAR_IQH_REG, DMAR_IQT_REG, IqaReg } from '../format/registers.js';

/** QI_LENGTH and the status values of qi_submit_sync. */
export const QI_LENGTH = 256;
export const QI_IN_USE = 1;
export const QI_DONE = 2;

/** Granularities of the flush helpers (the G field values). */
export const QI_CC_GLOBAL = 1;
export const QI_CC_DOMAIN = 2;
export const QI_CC_DEVICE = 3;
export const QI_IOTLB_GLOBAL = 1;
export const QI_IOTLB_DSI = 2;
export const QI_IOTLB_PSI = 3;
export const QI_PC_ALL_PASIDS = 0;
export const QI_PC_PASID_SEL = 1;
export const QI_PC_GLOBAL = 3;
/** A size order this large means "everything" (MAX_AGAW_PFN_WIDTH). */
export const MAX_AGAW_PFN_WIDTH = 52;

/** Register access the driver uses (MMIO). */
export interface DmarRegs {
  read32(off: number): number;
  write32(off: number, v: number): void;
  read64(off: number): bigint;
  write64(off: number, v: bigint): void;
}

export interface SubmittedDesc {
  type: number;
  qw: readonly bigint[];
}

export class QueuedInvalidation {
  readonly base: number;
  readonly statusPfn: number;
  private freeHead = 0;
  /** Descriptors submitted, by type (index = type), and the most recent ones for inspection. */
  readonly submitted = new Uint32Array(16);
  readonly history: SubmittedDesc[] = [];
  historyLimit = 512;
  errors = 0;

  constructor(
    private readonly regs: DmarRegs,
    private readonly mem: PhysMem,
    private readonly frames: FrameAllocator,
  ) {
    // 256 descriptors of 32 bytes: two pages (QS = 1); one page of 32-bit status words.
    this.base = frames.alloc(1);
    this.statusPfn = frames.allocFrame();
  }

  /** dmar_enable_qi: IQA (DW = 1, QS = 1), IQT = 0; the caller then sets GCMD.QIE. */
  program(): void {
    this.freeHead = 0;
    this.regs.write64(DMAR_IQT_REG, 0n);
    this.regs.write64(DMAR_IQA_REG, IqaReg.encode({ base: BigInt(this.base) * 4096n, dw: 1, qs: 1 }));
  }

  release(): void {
    this.frames.put(this.base);
    this.frames.put(this.base + 1);
    this.frames.put(this.statusPfn);
  }

  private write(index: number, qw: readonly bigint[]): void {
    const pa = this.base * 4096 + index * 32;
    for (let i = 0; i < 4; i++) this.mem.setU64(pa + i * 8, qw[i] ?? 0n);
  }

  /**
   * qi_submit_sync: copies the descriptors and a status-write wait descriptor into the queue,
   * moves IQT, and waits for the status. A descriptor error (IQE) is cleared the way
   * qi_check_fault does it (the wait descriptor is copied over the bad one) and gives -EINVAL.
   */
  submitSync(descs: readonly (readonly bigint[])[]): number {
    if (descs.length === 0) return 0;
    const index = this.freeHead;
    const waitIndex = (index + descs.length) % QI_LENGTH;
    for (let i = 0; i < descs.length; i++) {
      const d = descs[i]!;
      this.write((index + i) % QI_LENGTH, d);
      const type = invDescType(d[0]!);
      this.submitted[type & 0xf]!++;
      this.history.push({ type, qw: [...d] });
    }
    while (this.history.length > this.historyLimit) this.history.shift();
    const statusPa = this.statusPfn * 4096 + waitIndex * 4;
    this.mem.setU32(statusPa, QI_IN_USE);
    const wait = InvWaitDesc.encode({ type: 5, sw: true, statusData: QI_DONE, statusAddr: BigInt(statusPa) });
    this.write(waitIndex, wait);
    this.freeHead = (waitIndex + 1) % QI_LENGTH;
    this.regs.write64(DMAR_IQT_REG, BigInt(this.freeHead << 5));
    if (this.mem.u32(statusPa) === QI_DONE) return 0;
    if ((this.regs.read32(DMAR_FSTS_REG) & DMA_FSTS_IQE) !== 0) {
      this.errors++;
      const head = Number(this.regs.read64(DMAR_IQH_REG)) >>> 5;
      this.write(head, wait);
      this.regs.write32(DMAR_FSTS_REG, DMA_FSTS_IQE);
      return -22;
    }
    return -110;
  }

  // The flush helpers of dmar.c, each one submission.
  flushContext(did: number, sid: number, fm: number, g: number): number {
    return this.submitSync([ContextCacheInvDesc.encode({ type: 1, g, did, sid, fm })]);
  }

  /** qi_desc_iotlb: DW/DR as CAP.DWD/DRD allow. */
  iotlbDesc(did: number, addr: bigint, sizeOrder: number, g: number, ih: boolean, drain: boolean): bigint[] {
    return IotlbInvDesc.encode({ type: 2, g, dw: drain, dr: drain, did, addr: addr & ~0xfffn, ih, am: sizeOrder });
  }

  flushPasidCache(did: number, g: number, pasid: number): number {
    return this.submitSync([PasidCacheInvDesc.encode({ type: 7, g, did, pasid })]);
  }

  /** qi_desc_piotlb_all / qi_desc_piotlb. */
  piotlbDesc(did: number, pasid: number, addr: bigint, sizeOrder: number, ih: boolean, all: boolean): bigint[] {
    if (all) return PasidIotlbInvDesc.encode({ type: 6, g: 2, did, pasid });
    return PasidIotlbInvDesc.encode({ type: 6, g: 3, did, pasid, addr: addr & ~0xfffn, ih, am: sizeOrder });
  }

  /** qi_desc_dev_iotlb: S = 1 encodes 2^mask pages in the lowest clear address bit. */
  devIotlbDesc(sid: number, pfsid: number, qdep: number, addr: bigint, mask: number): bigint[] {
    let a = addr;
    if (mask) a |= (1n << BigInt(12 + mask - 1)) - 1n;
    return DevTlbInvDesc.encode({
      type: 3,
      sid,
      mip: qdep >= 32 ? 0 : qdep,
      pfsidLo: pfsid & 0xf,
      pfsidHi: (pfsid >> 4) & 0xfff,
      s: mask !== 0,
      addr: BigInt.asUintN(64, a) & ~0xfffn,
    });
  }

  /** qi_desc_dev_iotlb_pasid. */
  devIotlbPasidDesc(sid: number, pfsid: number, pasid: number, qdep: number, addr: bigint, sizeOrder: number): bigint[] {
    const order = Math.min(sizeOrder, 64 - 12);
    let a = addr & ~0xfffn;
    if (order) {
      a |= ((1n << BigInt(order)) - 1n) << 12n;
      a &= ~(1n << BigInt(12 + order - 1));
    }
    return PasidDevTlbInvDesc.encode({
      type: 8,
      sid,
      pasid,
      mip: qdep & 0x1f,
      pfsidLo: pfsid & 0xf,
      pfsidHi: (pfsid >> 4) & 0xfff,
      s: order !== 0,
      addr: BigInt.asUintN(64, a) & ~0xfffn,
    });
  }

  pageResponse(rid: number, pasid: number, pasidPresent: boolean, code: number, prgi: number, lpig: boolean): number {
    return this.submitSync([PageGroupResponseDesc.encode({ type: 9, rid, pasid, pasidPresent, respCode: code, prgi, lpig })]);
  }
}
