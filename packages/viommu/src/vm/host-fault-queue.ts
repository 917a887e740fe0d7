// An iommufd FAULT object as the VMM uses it (IOMMU_FAULT_QUEUE_ALLOC): the VMM sleeps in poll on its fd, so the
// kernel's wake-up runs the drain (the main loop polls it too); it reads struct iommu_hwpt_pgfault records and
// writes struct iommu_hwpt_page_response answers back.
import { iommu_hwpt_page_response, iommu_hwpt_pgfault } from '@iommu-lab/iommu-core';
import { pollWaitAdd } from '@iommu-lab/platform';
import type { IommufdBackend } from '../backends/iommufd.js';
import type { Vm } from './vm.js';

export type HostPageFault = ReturnType<typeof iommu_hwpt_pgfault.decode>;

/** Fault records taken per read(2). */
const BATCH = 16;

export class HostFaultQueue {
  /** The fault object's ID (what a nested HWPT is allocated with) and the fd to read page requests from. */
  readonly id: number;
  readonly fd: number;

  constructor(
    private readonly vm: Vm,
    backend: IommufdBackend,
    private readonly onFault: (f: HostPageFault) => void,
    /** Where a failed response is reported (QEMU's error_report). */
    private readonly errors: string[],
  ) {
    const q = backend.faultQueueAlloc();
    this.id = q.id;
    this.fd = q.fd;
    pollWaitAdd(vm.vmm.file(q.fd), () => this.drain());
    vm.addFdHandler(q.fd, () => this.drain());
  }

  /** Reads every queued fault record and hands each to onFault. */
  drain(): void {
    const size = iommu_hwpt_pgfault.size;
    for (;;) {
      const bytes = this.vm.vmm.read(this.fd, size * BATCH);
      if (bytes.length === 0) return;
      for (let off = 0; off < bytes.length; off += size) this.onFault(iommu_hwpt_pgfault.decode(bytes.subarray(off, off + size)));
    }
  }

  /** The page response for a group. */
  respond(cookie: number, code: number): void {
    writePageResponse(this.vm, this.fd, cookie, code, this.errors);
  }
}

/** Writes a struct iommu_hwpt_page_response; a failure (the group went away, answered by the kernel) is reported. */
export function writePageResponse(vm: Vm, fd: number, cookie: number, code: number, errors: string[]): void {
  try {
    vm.vmm.write(fd, iommu_hwpt_page_response.encode({ cookie, code }));
  } catch (e) {
    errors.push(`page response (cookie ${cookie}) failed: ${(e as Error).message}`);
  }
}
