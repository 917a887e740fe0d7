// The emulated unit's page request queue (VT-d 7.4, 7.5; QEMU's vtd_pri_request_page from the 2025 ATS/PRI series):
// a page request for the guest is checked against the guest context entry (PRE), written as a descriptor into guest
// RAM at PQA + PQT, and announced with PRS.PPR and the page request event (an MSI from PEADDR/PEDATA).
import {
  DMA_PRS_PPR,
  DMA_PRS_PRO,
  DMAR_PEADDR_REG,
  DMAR_PECTL_REG,
  DMAR_PEDATA_REG,
  DMAR_PEUADDR_REG,
  DMAR_PQA_REG,
  DMAR_PQH_REG,
  DMAR_PQT_REG,
  DMAR_PRS_REG,
  PageRequestDesc,
  PQ_OFFSET_MASK,
  PRQ_DESC_PAGE_REQUEST,
  PRQ_DESC_SIZE,
  VTD_FR_SM_CTX_PRE,
} from '@iommu-lab/hw-vtd/format';
import type { GuestRam } from '../vm/guest-ram.js';
import type { VtdFaultUnit } from './fault.js';
import type { VtdCsr } from './regs.js';

const PECTL_IM = 0x8000_0000;
const PECTL_IP = 0x4000_0000;

/** A page request as the guest will read it: its RID, PASID (-1: none) and address, what was asked, its group. */
export interface GuestPageRequest {
  sid: number;
  pasid: number;
  addr: bigint;
  read: boolean;
  write: boolean;
  exec: boolean;
  priv: boolean;
  prgi: number;
  last: boolean;
}

export type PrqOutcome = 'queued' | 'dropped' | 'refused';

/** 7.4.1.1: type 1, PP, RID, PASID, ER, PMR; RD, WR, LPIG, PRGI, the page address; no private data. */
function encodePageRequest(r: GuestPageRequest): bigint[] {
  const pp = r.pasid >= 0;
  return PageRequestDesc.encode({
    type: PRQ_DESC_PAGE_REQUEST,
    pasidPresent: pp,
    rid: r.sid & 0xffff,
    pasid: pp ? r.pasid & 0xfffff : 0,
    exeReq: r.exec,
    pmReq: r.priv,
    rdReq: r.read,
    wrReq: r.write,
    lpig: r.last,
    prgi: r.prgi & 0x1ff,
    addr: r.addr & 0xffff_ffff_ffff_f000n,
  });
}

/** PQH, PQT (byte offsets 18:5), PQA (base, PQS), PRS (PPR/PRO write-1-to-clear), PECTL (IM; IP read-only), PE*. */
export function definePrqRegs(csr: VtdCsr, prs: boolean): void {
  const off = BigInt(prs ? PQ_OFFSET_MASK : 0);
  csr.defineQuad(DMAR_PQH_REG, 0n, off, 0n);
  csr.defineQuad(DMAR_PQT_REG, 0n, off, 0n);
  csr.defineQuad(DMAR_PQA_REG, 0n, prs ? 0xffff_ffff_ffff_f007n : 0n, 0n);
  csr.defineLong(DMAR_PRS_REG, 0, 0, prs ? DMA_PRS_PPR | DMA_PRS_PRO : 0);
  csr.defineLong(DMAR_PECTL_REG, PECTL_IM, prs ? PECTL_IM : 0, 0);
  csr.defineLong(DMAR_PEDATA_REG, 0, prs ? 0xffff_ffff : 0, 0);
  csr.defineLong(DMAR_PEADDR_REG, 0, prs ? 0xffff_fffc : 0, 0);
  csr.defineLong(DMAR_PEUADDR_REG, 0, prs ? 0xffff_ffff : 0, 0);
}

export class VtdPrq {
  queued = 0;
  dropped = 0;
  refused = 0;
  events = 0;

  constructor(
    private readonly csr: VtdCsr,
    private readonly ram: GuestRam,
    private readonly faults: VtdFaultUnit,
    /** Sends the MSI PEADDR/PEDATA describe. */
    private readonly interrupt: (addr: number, data: number) => void,
  ) {}

  /**
   * A page request for the guest. `pre`/`fpd`: the guest context entry's PRE and FPD. Refused (fault 0x47 unless
   * FPD) without PRE; dropped while PRO is set or when the queue is full (PRO set, event); else queued.
   */
  request(r: GuestPageRequest, pre: boolean, fpd: boolean): PrqOutcome {
    if (!pre) {
      this.refused++;
      if (!fpd) this.faults.report({ sid: r.sid, pasid: r.pasid, addr: r.addr, reason: VTD_FR_SM_CTX_PRE, write: r.write });
      return 'refused';
    }
    const prs = this.csr.raw(DMAR_PRS_REG);
    if (prs & DMA_PRS_PRO) {
      this.dropped++;
      return 'dropped';
    }
    const pqa = this.csr.rawQuad(DMAR_PQA_REG);
    const size = 2 ** (Number(pqa & 7n) + 7) * PRQ_DESC_SIZE;
    const tail = (this.csr.raw(DMAR_PQT_REG) & PQ_OFFSET_MASK) % size;
    const head = (this.csr.raw(DMAR_PQH_REG) & PQ_OFFSET_MASK) % size;
    const next = (tail + PRQ_DESC_SIZE) % size;
    const gpa = Number(pqa & ~0xfffn) + tail;
    if (next === head || !this.ram.contains(gpa, PRQ_DESC_SIZE)) {
      this.dropped++;
      this.csr.setClear(DMAR_PRS_REG, 0, DMA_PRS_PRO);
      this.event(prs);
      return 'dropped';
    }
    const desc = encodePageRequest(r);
    for (let i = 0; i < 4; i++) this.ram.setU64(gpa + 8 * i, desc[i]!);
    this.csr.setRaw(DMAR_PQT_REG, next);
    this.queued++;
    const now = this.csr.raw(DMAR_PRS_REG);
    if ((now & DMA_PRS_PPR) === 0) {
      this.csr.setClear(DMAR_PRS_REG, 0, DMA_PRS_PPR);
      this.event(now);
    }
    return 'queued';
  }

  /** 7.5: an event only when neither PPR nor PRO was set; with PECTL.IM it waits in PECTL.IP. */
  private event(oldPrs: number): void {
    if (oldPrs & (DMA_PRS_PPR | DMA_PRS_PRO)) return;
    this.csr.setClear(DMAR_PECTL_REG, 0, PECTL_IP);
    if (this.csr.raw(DMAR_PECTL_REG) & PECTL_IM) return;
    this.deliver();
  }

  /** PECTL written: unmasking a pending event delivers it. */
  pectlWritten(): void {
    const v = this.csr.raw(DMAR_PECTL_REG);
    if ((v & PECTL_IP) !== 0 && (v & PECTL_IM) === 0) this.deliver();
  }

  private deliver(): void {
    this.events++;
    this.csr.setClear(DMAR_PECTL_REG, PECTL_IP, 0);
    this.interrupt(this.csr.raw(DMAR_PEADDR_REG) >>> 0, this.csr.raw(DMAR_PEDATA_REG) >>> 0);
  }
}
