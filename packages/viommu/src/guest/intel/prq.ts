// The guest's page request queue (Linux intel/prq.c): the queue in guest RAM, its MSI, prq_event_thread reading the
// descriptors the vIOMMU wrote, each request handed to the I/O page fault handler, and the page group response.
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
  PRQ_DESC_SIZE,
  PRQ_ORDER,
  QI_RESP_INVALID,
} from '@iommu-lab/hw-vtd/format';
import type { Vm } from '../../vm/vm.js';
import type { GuestMmio } from '../mmio-regs.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import { type GuestQi, QiBatch } from './qi.js';

/** The vector the guest gives the page request interrupt (dmar_alloc_hwirq for the PRQ). */
export const PRQ_VECTOR = 0x41;
const MSI_ADDR = 0xfee0_0000;
const PRQ_SIZE = 4096 << PRQ_ORDER;
const PRQ_RING_MASK = PRQ_SIZE - PRQ_DESC_SIZE;

/** A page request as the guest read it: its own RID, PASID (-1: none) and virtual address. */
export interface GuestPrqRequest {
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

/** What became of a request: the response code sent (QI_RESP_*), or none (a stop marker, or not the group's last). */
export interface GuestPrqRecord extends GuestPrqRequest {
  response: number | null;
}

/** iommu_report_device_fault + the IOPF handler: the response code for the group (SUCCESS or INVALID). */
export type GuestIopfHandler = (req: GuestPrqRequest) => number;

function canonical(addr: bigint): boolean {
  return BigInt.asIntN(64, addr << 16n) >> 16n === BigInt.asIntN(64, addr);
}

export class GuestPrq {
  readonly gpa: number;
  readonly log: GuestPrqRecord[] = [];
  logLimit = 1024;
  interrupts = 0;
  private readonly batch = new QiBatch();

  constructor(
    private readonly vm: Vm,
    private readonly regs: GuestMmio,
    private readonly qi: GuestQi,
    pages: GuestPageAllocator,
    private readonly handler: GuestIopfHandler,
  ) {
    this.gpa = pages.alloc(1 << PRQ_ORDER, 1 << PRQ_ORDER);
  }

  /** intel_iommu_enable_prq: the interrupt (MSI data/address, unmasked), head and tail 0, PQA = queue | PRQ_ORDER. */
  enable(): void {
    this.vm.onIrq(`msi:0x${PRQ_VECTOR.toString(16)}`, () => this.eventThread());
    this.regs.writel(DMAR_PEDATA_REG, PRQ_VECTOR);
    this.regs.writel(DMAR_PEADDR_REG, MSI_ADDR);
    this.regs.writel(DMAR_PEUADDR_REG, 0);
    this.regs.writel(DMAR_PECTL_REG, 0);
    this.regs.writeq(DMAR_PQH_REG, 0n);
    this.regs.writeq(DMAR_PQT_REG, 0n);
    this.regs.writeq(DMAR_PQA_REG, BigInt(this.gpa) | BigInt(PRQ_ORDER));
  }

  /** prq_event_thread: PPR cleared, PQT and PQH read, every request handled, PQH written, PRO checked. */
  eventThread(): void {
    this.interrupts++;
    const regs = this.regs;
    regs.writel(DMAR_PRS_REG, DMA_PRS_PPR);
    const tail = Number(regs.readq(DMAR_PQT_REG)) & PRQ_RING_MASK;
    let head = Number(regs.readq(DMAR_PQH_REG)) & PRQ_RING_MASK;
    while (head !== tail) {
      this.handle(this.decode(this.gpa + head));
      head = (head + PRQ_DESC_SIZE) & PRQ_RING_MASK;
    }
    regs.writeq(DMAR_PQH_REG, BigInt(tail));
    if (regs.readl(DMAR_PRS_REG) & DMA_PRS_PRO) {
      const h = Number(regs.readq(DMAR_PQH_REG)) & PRQ_RING_MASK;
      const t = Number(regs.readq(DMAR_PQT_REG)) & PRQ_RING_MASK;
      if (h === t) regs.writel(DMAR_PRS_REG, DMA_PRS_PRO);
    }
  }

  private decode(gpa: number): GuestPrqRequest {
    const ram = this.vm.ram;
    const d = PageRequestDesc.decode([ram.u64(gpa), ram.u64(gpa + 8)]);
    return { sid: d.rid, pasid: d.pasidPresent ? d.pasid : -1, addr: d.addr, read: d.rdReq, write: d.wrReq, exec: d.exeReq, priv: d.pmReq, prgi: d.prgi, last: d.lpig };
  }

  private handle(req: GuestPrqRequest): void {
    let code: number | null = null;
    if (!canonical(req.addr) || (req.priv && (req.read || req.write)) || (req.exec && req.read)) {
      // handle_bad_prq_event: Invalid Request, on the group's last page only.
      if (req.last) code = QI_RESP_INVALID;
    } else if (!(req.last && !req.read && !req.write)) {
      const rc = this.handler(req);
      if (req.last) code = rc;
    }
    this.log.push({ ...req, response: code });
    if (this.log.length > this.logLimit) this.log.shift();
    if (code === null) return;
    // intel_iommu_page_response: one page group response descriptor, submitted and waited for.
    this.batch.pageResponse(req.sid, req.pasid, req.pasid >= 0, code, req.prgi);
    this.qi.submitSync(this.batch);
  }
}
