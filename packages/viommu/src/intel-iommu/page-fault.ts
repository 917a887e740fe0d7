// Recoverable faults between the host and the guest: the VMM reads page requests from the device's iommufd FAULT
// queue (woken by the kernel as its poll would be), puts each into the guest's page request queue with the guest's
// RID, and turns the guest's page group response into a struct iommu_hwpt_page_response written to the fault fd.
import {
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  IOMMU_PGFAULT_FLAGS_LAST_PAGE,
  IOMMU_PGFAULT_FLAGS_PASID_VALID,
  IOMMU_PGFAULT_PERM_EXEC,
  IOMMU_PGFAULT_PERM_PRIV,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
} from '@iommu-lab/iommu-core';
import { QI_RESP_SUCCESS } from '@iommu-lab/hw-vtd/format';
import { HostFaultQueue, type HostPageFault } from '../vm/host-fault-queue.js';
import type { VtdAddressSpace } from './address-space.js';
import type { GuestPageRequest, VtdPrq } from './prq.js';
import type { VtdState } from './state.js';
import { ce } from './structures.js';

/** A page request handed to the guest, waiting for its page group response. */
interface Pending {
  readonly as: VtdAddressSpace;
  readonly cookie: number;
}

export class VtdPageFaults {
  /** Fault records read from the host, page group responses written back, and requests answered at once. */
  read = 0;
  responses = 0;
  answered = 0;
  private readonly pending = new Map<string, Pending>();
  private readonly ctx = new Uint32Array(8);

  constructor(
    private readonly s: VtdState,
    private readonly prq: VtdPrq,
  ) {}

  /** The device's FAULT queue (IOMMU_FAULT_QUEUE_ALLOC) on first use; the fault id a nested HWPT is allocated with. */
  faultId(as: VtdAddressSpace): number {
    as.faultQueue ??= new HostFaultQueue(this.s.vm, as.dev.vfio.backend, (f) => this.forward(as, f), this.s.errors);
    return as.faultQueue.id;
  }

  /** A host page request of the device, queued for the guest. */
  private forward(as: VtdAddressSpace, f: HostPageFault): void {
    this.read++;
    const r: GuestPageRequest = {
      sid: as.sid,
      pasid: f.flags & IOMMU_PGFAULT_FLAGS_PASID_VALID ? f.pasid : -1,
      addr: f.addr,
      read: (f.perm & IOMMU_PGFAULT_PERM_READ) !== 0,
      write: (f.perm & IOMMU_PGFAULT_PERM_WRITE) !== 0,
      exec: (f.perm & IOMMU_PGFAULT_PERM_EXEC) !== 0,
      priv: (f.perm & IOMMU_PGFAULT_PERM_PRIV) !== 0,
      prgi: f.grpid,
      last: (f.flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE) !== 0,
    };
    const key = keyOf(r.sid, r.pasid, r.prgi);
    // The guest may answer inside the request (its interrupt handler runs at once): remember the cookie first.
    if (r.last) this.pending.set(key, { as, cookie: f.cookie });
    const ok = as.contextWords(this.ctx) === 0;
    const outcome = this.prq.request(r, ok && ce.pre(this.ctx), ok && ce.fpd(this.ctx));
    if (outcome !== 'queued' && r.last && this.pending.delete(key)) {
      this.answered++;
      as.faultQueue!.respond(f.cookie, IOMMU_PAGE_RESP_INVALID);
    }
  }

  /** The guest's page group response descriptor: the host's group gets SUCCESS, or INVALID for any other code. */
  respond(sid: number, pasid: number, code: number, prgi: number): boolean {
    const key = keyOf(sid, pasid, prgi);
    const p = this.pending.get(key);
    if (!p) return false;
    this.pending.delete(key);
    this.responses++;
    p.as.faultQueue!.respond(p.cookie, code === QI_RESP_SUCCESS ? IOMMU_PAGE_RESP_SUCCESS : IOMMU_PAGE_RESP_INVALID);
    return true;
  }

  /** Requests the guest has not answered yet. */
  get outstanding(): number {
    return this.pending.size;
  }
}

function keyOf(sid: number, pasid: number, prgi: number): string {
  return `${sid}:${pasid}:${prgi}`;
}
