// The guest's queued invalidation (Linux intel/dmar.c): a ring of 256 descriptors in guest RAM, each submission
// followed by a wait descriptor whose status write the guest polls; the IQT write is the VM exit.
import {
  DMA_FSTS_IQE,
  DMA_GCMD_QIE,
  DMA_GSTS_QIES,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_IQA_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  QI_CC_TYPE,
  QI_DEIOTLB_TYPE,
  QI_EIOTLB_TYPE,
  QI_IOTLB_TYPE,
  QI_IWD_TYPE,
  QI_PC_TYPE,
  QI_PGRP_RESP_TYPE,
} from '@iommu-lab/hw-vtd/format';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestMmio } from '../mmio-regs.js';
import type { GuestPageAllocator } from '../page-alloc.js';

export const QI_LENGTH = 256;
const QI_FREE = 0;
const QI_IN_USE = 1;
const QI_DONE = 2;
/** QI_IWD_FENCE and QI_IWD_PRQ_DRAIN (PD) of a wait descriptor. */
const QI_IWD_FENCE = 1 << 6;
const QI_IWD_PRQ_DRAIN = 1 << 7;

/** A batch of 256-bit descriptors as u32 words (8 per descriptor), built without allocation. */
export class QiBatch {
  readonly words = new Uint32Array(8 * 16);
  count = 0;

  private next(): number {
    if (this.count === 16) throw new RangeError('qi batch full');
    const o = this.count++ * 8;
    this.words.fill(0, o, o + 8);
    return o;
  }

  /** qi_desc_iotlb: G (1 global, 2 DSI, 3 PSI), DID, DR/DW drain hints; ADDR, IH, AM. */
  iotlb(did: number, g: number, pfn: number, am: number, ih: boolean, drain: boolean): void {
    const o = this.next();
    this.words[o] = (QI_IOTLB_TYPE | (g << 4) | (drain ? 0xc0 : 0) | (did << 16)) >>> 0;
    this.words[o + 2] = (((pfn % 2 ** 20) * 4096) | (ih ? 0x40 : 0) | am) >>> 0;
    this.words[o + 3] = Math.floor(pfn / 2 ** 20);
  }

  /** qi_desc_piotlb / qi_desc_piotlb_all: G 3 page-selective within the PASID, 2 all of it. */
  piotlb(did: number, pasid: number, pfn: number, am: number, ih: boolean, all: boolean): void {
    const o = this.next();
    this.words[o] = (QI_EIOTLB_TYPE | ((all ? 2 : 3) << 4) | (did << 16)) >>> 0;
    this.words[o + 1] = pasid & 0xfffff;
    if (!all) {
      this.words[o + 2] = (((pfn % 2 ** 20) * 4096) | (ih ? 0x40 : 0) | am) >>> 0;
      this.words[o + 3] = Math.floor(pfn / 2 ** 20);
    }
  }

  /** qi_flush_pasid_cache: G 0 all PASIDs of the DID, 1 PASID-selective, 3 global. */
  pasidCache(did: number, g: number, pasid: number): void {
    const o = this.next();
    this.words[o] = (QI_PC_TYPE | (g << 4) | (did << 16)) >>> 0;
    this.words[o + 1] = pasid & 0xfffff;
  }

  /** qi_desc_dev_iotlb_pasid of everything (size order 64 - 12): S set, address bits 62:12 set, QDEP in 8:4. */
  devTlbPasidAll(sid: number, pasid: number, qdep: number): void {
    const o = this.next();
    this.words[o] = (QI_DEIOTLB_TYPE | ((qdep & 0x1f) << 4) | ((sid & 0xffff) << 16)) >>> 0;
    this.words[o + 1] = pasid & 0xfffff;
    this.words[o + 2] = 0xffff_f000 | (1 << 11);
    this.words[o + 3] = 0x7fff_ffff;
  }

  /** The page group response (qi_submit of intel_iommu_page_response): PP, response code, RID, PASID; PRGI. */
  pageResponse(rid: number, pasid: number, pasidPresent: boolean, code: number, prgi: number): void {
    const o = this.next();
    this.words[o] = (QI_PGRP_RESP_TYPE | (pasidPresent ? 1 << 4 : 0) | ((code & 0xf) << 12) | ((rid & 0xffff) << 16)) >>> 0;
    this.words[o + 1] = pasidPresent ? pasid & 0xfffff : 0;
    this.words[o + 2] = (prgi & 0x1ff) << 3;
  }

  /** A wait descriptor with the fence only (the first of intel_iommu_drain_pasid_prq's descriptors). */
  waitFence(): void {
    const o = this.next();
    this.words[o] = QI_IWD_TYPE | QI_IWD_FENCE;
    this.words[o + 1] = QI_DONE;
  }

  /** qi_flush_context: G 1 global, 2 domain, 3 device (SID, function mask FM). */
  context(did: number, sid: number, fm: number, g: number): void {
    const o = this.next();
    this.words[o] = (QI_CC_TYPE | (g << 4) | (did << 16)) >>> 0;
    this.words[o + 1] = (sid & 0xffff) | ((fm & 3) << 16);
  }
}

export class GuestQi {
  /** GPA of the descriptor ring (2 pages: 256 x 32 bytes) and of desc_status (u32 per slot). */
  readonly descGpa: number;
  readonly statusGpa: number;
  private freeHead = 0;
  private freeTail = 0;
  private freeCnt = QI_LENGTH;
  /** Submissions the unit refused (IQE). */
  errors = 0;
  private readonly shift: number;

  constructor(
    private readonly ram: GuestRam,
    private readonly regs: GuestMmio,
    pages: GuestPageAllocator,
    /** ECAP.SMTS: 256-bit descriptors (DW = 1, QS = 1). */
    private readonly wide: boolean,
  ) {
    this.shift = wide ? 5 : 4;
    this.descGpa = pages.alloc(wide ? 2 : 1, wide ? 2 : 1);
    this.statusGpa = pages.alloc(1);
  }

  /** __dmar_enable_qi: tail 0, IQA with DW/QS, GCMD.QIE, wait for GSTS.QIES. */
  enable(gcmd: { value: number }): void {
    this.freeHead = this.freeTail = 0;
    this.freeCnt = QI_LENGTH;
    this.regs.writel(DMAR_IQT_REG, 0);
    this.regs.writeq(DMAR_IQA_REG, BigInt(this.descGpa) | (this.wide ? (1n << 11n) | 1n : 0n));
    gcmd.value |= DMA_GCMD_QIE;
    this.regs.writel(DMAR_GCMD_REG, gcmd.value);
    this.regs.waitl(DMAR_GSTS_REG, (v) => (v & DMA_GSTS_QIES) !== 0, 'QIE');
  }

  private status(i: number): number {
    return this.ram.u32(this.statusGpa + i * 4);
  }

  private setStatus(i: number, v: number): void {
    this.ram.setU32(this.statusGpa + i * 4, v);
  }

  private writeDesc(slot: number, w: Uint32Array, o: number): void {
    const gpa = this.descGpa + (slot << this.shift);
    const n = this.wide ? 4 : 2;
    for (let q = 0; q < n; q++) this.ram.write64(gpa + 8 * q, w[o + 2 * q]!, w[o + 2 * q + 1]!);
  }

  /**
   * qi_submit_sync: the batch plus a wait descriptor, one IQT write, then the status poll. Returns 0 or -EINVAL.
   * `drain` (QI_OPT_WAIT_DRAIN) sets PD in the wait descriptor: page requests and responses in flight drain first.
   */
  submitSync(b: QiBatch, drain = false): number {
    const count = b.count;
    b.count = 0;
    if (this.freeCnt < count + 2) this.reclaim();
    if (this.freeCnt < count + 2) throw new Error('invalidation queue full');
    const index = this.freeHead;
    const waitIndex = (index + count) % QI_LENGTH;
    for (let i = 0; i < count; i++) {
      this.writeDesc((index + i) % QI_LENGTH, b.words, i * 8);
      this.setStatus((index + i) % QI_LENGTH, QI_IN_USE);
    }
    this.setStatus(waitIndex, QI_IN_USE);
    const wait = waitWords;
    wait.fill(0);
    wait[0] = QI_IWD_TYPE | (1 << 5) | (drain ? QI_IWD_PRQ_DRAIN : 0);
    wait[1] = QI_DONE;
    const statusAddr = this.statusGpa + waitIndex * 4;
    wait[2] = statusAddr % 2 ** 32;
    wait[3] = Math.floor(statusAddr / 2 ** 32);
    this.writeDesc(waitIndex, wait, 0);
    this.freeHead = (this.freeHead + count + 1) % QI_LENGTH;
    this.freeCnt -= count + 1;
    this.regs.writel(DMAR_IQT_REG, this.freeHead << this.shift);
    let rc = 0;
    while (this.status(waitIndex) !== QI_DONE) {
      rc = this.checkFault(index, waitIndex);
      if (rc) break;
      // The unit processes the queue inside the IQT exit; a wait still pending means it never will.
      throw new Error(`invalidation wait descriptor ${waitIndex} never completed`);
    }
    for (let i = 0; i <= count; i++) this.setStatus((index + i) % QI_LENGTH, QI_FREE);
    this.reclaim();
    if (rc) this.errors++;
    return rc;
  }

  /** qi_check_fault: on IQE at our first descriptor, replace it with the wait descriptor and clear IQE. */
  private checkFault(index: number, waitIndex: number): number {
    const fault = this.regs.readl(DMAR_FSTS_REG);
    if ((fault & DMA_FSTS_IQE) === 0) return 0;
    const head = this.regs.readl(DMAR_IQH_REG) >>> this.shift;
    if (head !== index) return 0;
    const n = this.wide ? 4 : 2;
    for (let q = 0; q < n; q++) {
      this.ram.read64(this.descGpa + (waitIndex << this.shift) + 8 * q, pair);
      this.ram.write64(this.descGpa + (head << this.shift) + 8 * q, pair[0]!, pair[1]!);
    }
    this.regs.writel(DMAR_FSTS_REG, DMA_FSTS_IQE);
    return -22;
  }

  /** reclaim_free_desc. */
  private reclaim(): void {
    while (this.status(this.freeTail) === QI_FREE && this.freeTail !== this.freeHead) {
      this.freeTail = (this.freeTail + 1) % QI_LENGTH;
      this.freeCnt++;
    }
  }
}

const waitWords = new Uint32Array(8);
const pair = new Uint32Array(2);
