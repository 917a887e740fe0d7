// The page request queue from the driver side (kernel intel/prq.c): the queue in memory, the event thread that
// hands each request to the IOMMU core (iommu_report_device_fault), and page responses through the invalidation queue.
import {
  type IommuDevice,
  type IommuPageResponse,
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID,
  IOMMU_PGFAULT_PERM_EXEC,
  IOMMU_PGFAULT_PERM_PRIV,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
  type IopfFault,
  iommuReportDeviceFault,
} from '@iommu-lab/iommu-core';
import {
  DMA_PRS_PPR,
  DMA_PRS_PRO,
  DMAR_PECTL_REG,
  DMAR_PQA_REG,
  DMAR_PQH_REG,
  DMAR_PQT_REG,
  DMAR_PRS_REG,
  PageRequestDesc,
  PRQ_DESC_SIZE,
  PRQ_ORDER,
  QI_RESP_INVALID,
} from '../format/page-request.js';
import { infoOf } from './device-info.js';
import type { IntelIommu } from './intel-iommu.js';

type Req = ReturnType<typeof PageRequestDesc.decode>;

/** PRQ_SIZE and PRQ_RING_MASK: 2^PRQ_ORDER pages, offsets 32-byte aligned. */
const PRQ_SIZE = 4096 << PRQ_ORDER;
const PRQ_RING_MASK = PRQ_SIZE - PRQ_DESC_SIZE;

/** is_canonical_address with 48-bit virtual addresses (4-level paging): bits 63:47 all equal. */
function isCanonical(addr: bigint): boolean {
  return BigInt.asIntN(64, addr << 16n) >> 16n === BigInt.asIntN(64, addr);
}

/** A request as prq_event_thread saw it, for inspection. */
export interface PrqRecord {
  rid: number;
  pasid: number;
  addr: bigint;
  prgi: number;
  perm: number;
  /** 'reported' to the core, 'bad' (answered Invalid), or 'stop-marker' (dropped). */
  outcome: 'reported' | 'bad' | 'stop-marker';
}

export class IntelPrq {
  readonly basePfn: number;
  /** iommu->prq_seq_number: requests reported. */
  seq = 0;
  readonly log: PrqRecord[] = [];
  logLimit = 256;
  private readonly events = { interrupts: 0, overflows: 0 };

  constructor(private readonly iommu: IntelIommu) {
    this.basePfn = iommu.frames.alloc(PRQ_ORDER);
  }

  get interrupts(): number {
    return this.events.interrupts;
  }

  get overflows(): number {
    return this.events.overflows;
  }

  /** intel_iommu_enable_prq: head and tail 0, PQA = queue | PRQ_ORDER; requesting the interrupt unmasks it. */
  enable(): void {
    const regs = this.iommu.regs;
    regs.write64(DMAR_PQH_REG, 0n);
    regs.write64(DMAR_PQT_REG, 0n);
    regs.write64(DMAR_PQA_REG, (BigInt(this.basePfn) << 12n) | BigInt(PRQ_ORDER));
    regs.write32(DMAR_PECTL_REG, 0);
  }

  /** intel_iommu_finish_prq. */
  finish(): void {
    const regs = this.iommu.regs;
    regs.write64(DMAR_PQH_REG, 0n);
    regs.write64(DMAR_PQT_REG, 0n);
    regs.write64(DMAR_PQA_REG, 0n);
    for (let i = 0; i < 1 << PRQ_ORDER; i++) this.iommu.frames.put(this.basePfn + i);
  }

  /** prq_event_thread: PPR cleared first, every request from PQH to PQT handled, PQH moved, overflow cleared. */
  eventThread(): void {
    const { regs, mem } = this.iommu;
    this.events.interrupts++;
    regs.write32(DMAR_PRS_REG, DMA_PRS_PPR);
    const tail = Number(regs.read64(DMAR_PQT_REG)) & PRQ_RING_MASK;
    let head = Number(regs.read64(DMAR_PQH_REG)) & PRQ_RING_MASK;
    while (head !== tail) {
      const pa = this.basePfn * 4096 + head;
      const req = PageRequestDesc.decode([0, 1, 2, 3].map((i) => mem.u64(pa + i * 8)));
      this.handle(req);
      head = (head + PRQ_DESC_SIZE) & PRQ_RING_MASK;
    }
    regs.write64(DMAR_PQH_REG, BigInt(tail));
    if (regs.read32(DMAR_PRS_REG) & DMA_PRS_PRO) {
      this.events.overflows++;
      const h = Number(regs.read64(DMAR_PQH_REG)) & PRQ_RING_MASK;
      const t = Number(regs.read64(DMAR_PQT_REG)) & PRQ_RING_MASK;
      if (h === t) regs.write32(DMAR_PRS_REG, DMA_PRS_PRO);
    }
  }

  private handle(req: Req): void {
    if (!isCanonical(req.addr)) return this.bad(req);
    // Privileged-mode and execute page requests are not supported.
    if (req.pmReq && (req.rdReq || req.wrReq)) return this.bad(req);
    if (req.exeReq && req.rdReq) return this.bad(req);
    // A stop marker (LPIG without read or write) needs no response.
    if (req.lpig && !req.rdReq && !req.wrReq) return this.record(req, 'stop-marker');
    const info = this.iommu.devicesByRid.get(req.rid);
    if (!info) return this.bad(req);
    this.record(req, 'reported');
    this.seq++;
    iommuReportDeviceFault(info.dev, this.fault(req));
  }

  /** intel_prq_report: struct iommu_fault_page_request from the descriptor. */
  private fault(req: Req): IopfFault {
    let flags = req.lpig ? IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE : 0;
    if (req.pasidPresent) flags |= IOMMU_FAULT_PAGE_REQUEST_PASID_VALID | IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID;
    return { flags, pasid: req.pasid, grpid: req.prgi, perm: permOf(req), addr: req.addr };
  }

  /** handle_bad_prq_event: logged, and answered Invalid Request when it ends its group. */
  private bad(req: Req): void {
    this.record(req, 'bad');
    if (!req.lpig) return;
    this.iommu.qi.pageResponse(req.rid, req.pasid, req.pasidPresent, QI_RESP_INVALID, req.prgi, false);
  }

  private record(req: Req, outcome: PrqRecord['outcome']): void {
    this.log.push({ rid: req.rid, pasid: req.pasidPresent ? req.pasid : -1, addr: req.addr, prgi: req.prgi, perm: permOf(req), outcome });
    if (this.log.length > this.logLimit) this.log.shift();
  }
}

/** prq_to_iommu_prot. */
function permOf(req: Req): number {
  return (
    (req.rdReq ? IOMMU_PGFAULT_PERM_READ : 0) |
    (req.wrReq ? IOMMU_PGFAULT_PERM_WRITE : 0) |
    (req.exeReq ? IOMMU_PGFAULT_PERM_EXEC : 0) |
    (req.pmReq ? IOMMU_PGFAULT_PERM_PRIV : 0)
  );
}

/** intel_iommu_page_response: a page group response descriptor for the request's RID, PASID and group index. */
export function intelIommuPageResponse(dev: IommuDevice, fault: IopfFault, msg: IommuPageResponse): void {
  const info = infoOf(dev);
  const pasidPresent = (fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID) !== 0;
  info.iommu.qi.pageResponse(info.sid, fault.pasid, pasidPresent, msg.code, fault.grpid, false);
}
