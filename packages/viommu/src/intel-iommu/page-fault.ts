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
  iommu_hwpt_page_response,
  iommu_hwpt_pgfault,
} from '@iommu-lab/iommu-core';
import { QI_RESP_SUCCESS } from '@iommu-lab/hw-vtd/format';
import { pollWaitAdd } from '@iommu-lab/platform';
import type { VtdAddressSpace } from './address-space.js';
import type { GuestPageRequest, VtdPrq } from './prq.js';
import type { VtdState } from './state.js';
import { ce } from './structures.js';

const BATCH = 16;

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
    if (as.faultId) return as.faultId;
    const q = as.dev.vfio.backend.faultQueueAlloc();
    as.faultId = q.id;
    as.faultFd = q.fd;
    const vm = this.s.vm;
    // The VMM thread sleeps in poll on the fd: the kernel's wake-up runs it; the main loop polls it too.
    pollWaitAdd(vm.vmm.file(q.fd), () => this.drain(as));
    vm.addFdHandler(q.fd, () => this.drain(as));
    return q.id;
  }

  /** Reads every queued fault of the device and queues it for the guest. */
  drain(as: VtdAddressSpace): void {
    const proc = this.s.vm.vmm;
    const size = iommu_hwpt_pgfault.size;
    for (;;) {
      const bytes = proc.read(as.faultFd, size * BATCH);
      if (bytes.length === 0) return;
      for (let off = 0; off < bytes.length; off += size) this.forward(as, iommu_hwpt_pgfault.decode(bytes.subarray(off, off + size)));
    }
  }

  private forward(as: VtdAddressSpace, f: ReturnType<typeof iommu_hwpt_pgfault.decode>): void {
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
      this.write(as, f.cookie, IOMMU_PAGE_RESP_INVALID);
    }
  }

  /** The guest's page group response descriptor: the host's group gets SUCCESS, or INVALID for any other code. */
  respond(sid: number, pasid: number, code: number, prgi: number): boolean {
    const key = keyOf(sid, pasid, prgi);
    const p = this.pending.get(key);
    if (!p) return false;
    this.pending.delete(key);
    this.responses++;
    this.write(p.as, p.cookie, code === QI_RESP_SUCCESS ? IOMMU_PAGE_RESP_SUCCESS : IOMMU_PAGE_RESP_INVALID);
    return true;
  }

  /** Requests the guest has not answered yet. */
  get outstanding(): number {
    return this.pending.size;
  }

  private write(as: VtdAddressSpace, cookie: number, code: number): void {
    try {
      this.s.vm.vmm.write(as.faultFd, iommu_hwpt_page_response.encode({ cookie, code }));
    } catch (e) {
      // The group went away meanwhile (its PASID was detached and answered by the kernel).
      this.s.errors.push(`page response (cookie ${cookie}) failed: ${(e as Error).message}`);
    }
  }
}

function keyOf(sid: number, pasid: number, prgi: number): string {
  return `${sid}:${pasid}:${prgi}`;
}
