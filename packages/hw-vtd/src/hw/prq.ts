// The page request queue (VT-d spec 7.4, 7.5): page requests written as descriptors at PQA + PQT, PRS.PPR and the
// page request event, overflow (PRS.PRO), and page group responses sent back to the device by RID.
import { DMA_EXEC, DMA_PRIV, DMA_READ, DMA_WRITE, NO_PASID, type PageRequest, type PciDevice, type PhysMem, type Tracepoint } from '@iommu-lab/platform';
import { PageGroupResponseDesc } from '../format/inv-desc.js';
import {
  DMA_PRS_PPR,
  DMA_PRS_PRO,
  DMAR_PECTL_REG,
  DMAR_PQA_REG,
  DMAR_PQH_REG,
  DMAR_PQT_REG,
  DMAR_PRS_REG,
  PageRequestDesc,
  PQ_OFFSET_MASK,
  PqaReg,
  PRQ_DESC_PAGE_REQUEST,
  PRQ_DESC_SIZE,
  QI_RESP_INVALID,
} from '../format/page-request.js';
import { raiseEvent, writeEventCtl } from './event-ctl.js';
import type { RegisterFile } from './register-file.js';

export class PageRequestQueue {
  /** Page requests received, written into the queue, and dropped (PRO set or the queue full). */
  received = 0;
  written = 0;
  dropped = 0;
  /** Page group responses forwarded to devices, and requests the hardware answered itself. */
  responses = 0;
  refused = 0;
  events = 0;
  /** The page request event interrupt (PEDATA/PEADDR's MSI): the driver's handler. */
  onEvent: (() => void) | null = null;
  /** Where page group responses go: the devices that sent requests, by RID. */
  private readonly devices = new Map<number, PciDevice>();

  constructor(
    private readonly mem: PhysMem,
    private readonly regs: RegisterFile,
    private readonly tp: Tracepoint,
  ) {}

  /** A page request that passed the context-entry checks: queued, or dropped on overflow (no fault, no response). */
  request(dev: PciDevice, req: PageRequest): void {
    this.received++;
    this.devices.set(req.rid, dev);
    const prs = this.regs.r32(DMAR_PRS_REG);
    if (prs & DMA_PRS_PRO) {
      this.dropped++;
      return;
    }
    const pqa = PqaReg.decode(this.regs.r64(DMAR_PQA_REG));
    const size = PqaReg.entries(pqa.pqs) * PRQ_DESC_SIZE;
    const tail = Number(this.regs.r64(DMAR_PQT_REG) & BigInt(PQ_OFFSET_MASK)) % size;
    const head = Number(this.regs.r64(DMAR_PQH_REG) & BigInt(PQ_OFFSET_MASK)) % size;
    const next = (tail + PRQ_DESC_SIZE) % size;
    const pa = Number(pqa.base) + tail;
    if (next === head || !this.mem.contains(pa, PRQ_DESC_SIZE)) {
      this.dropped++;
      this.regs.set32(DMAR_PRS_REG, DMA_PRS_PRO, true);
      this.event(prs);
      return;
    }
    const desc = PageRequestDesc.encode({
      type: PRQ_DESC_PAGE_REQUEST,
      pasidPresent: req.pasid !== NO_PASID,
      rid: req.rid,
      pasid: req.pasid === NO_PASID ? 0 : req.pasid,
      exeReq: (req.access & DMA_EXEC) !== 0,
      pmReq: (req.access & DMA_PRIV) !== 0,
      rdReq: (req.access & DMA_READ) !== 0,
      wrReq: (req.access & DMA_WRITE) !== 0,
      lpig: req.last,
      prgi: req.prgi,
      addr: BigInt(req.iovaPfn) * 4096n,
    });
    for (let i = 0; i < 4; i++) this.mem.setU64(pa + i * 8, desc[i]!);
    this.regs.w64(DMAR_PQT_REG, BigInt(next));
    this.written++;
    if (this.tp.enabled) this.tp.emit({ rid: req.rid, pasid: req.pasid, addr: `0x${(req.iovaPfn * 4096).toString(16)}`, prgi: req.prgi });
    const now = this.regs.r32(DMAR_PRS_REG);
    if ((now & DMA_PRS_PPR) === 0) {
      this.regs.w32(DMAR_PRS_REG, now | DMA_PRS_PPR);
      this.event(now);
    }
  }

  /** The hardware refused the request (a recorded fault): on the group's last page it answers Invalid Request itself. */
  refuse(dev: PciDevice, req: PageRequest): void {
    this.refused++;
    if (req.last) dev.pageResponse(req.prgi, req.pasid, QI_RESP_INVALID);
  }

  /** A page group response descriptor (7.7.1) from the invalidation queue: the PRG Response Message to the device. */
  respond(qw: readonly bigint[]): void {
    const d = PageGroupResponseDesc.decode(qw);
    const dev = this.devices.get(d.rid);
    if (!dev) return;
    this.responses++;
    dev.pageResponse(d.prgi, d.pasidPresent ? d.pasid : NO_PASID, d.respCode);
  }

  /** 7.5: the page request event fires only when neither PPR nor PRO was already set; masked, it waits in PECTL.IP. */
  private event(oldPrs: number): void {
    if (oldPrs & (DMA_PRS_PPR | DMA_PRS_PRO)) return;
    if (raiseEvent(this.regs, DMAR_PECTL_REG)) this.deliver();
  }

  /** PECTL written: unmasking a pending event delivers it. */
  writePectl(v: number): void {
    if (writeEventCtl(this.regs, DMAR_PECTL_REG, v)) this.deliver();
  }

  private deliver(): void {
    this.events++;
    this.onEvent?.();
  }
}
