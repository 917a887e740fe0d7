// I/O page faults (drivers/iommu/io-pgfault.c): page requests grouped, handed to the domain, answered.
import type { IommuDevice } from './device.js';
import { IOMMU_NO_PASID } from './domain.js';
import type { IommuAttachHandle } from './group.js';

export const IOMMU_FAULT_PAGE_REQUEST_PASID_VALID = 1 << 0;
export const IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE = 1 << 1;
export const IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID = 1 << 2;

export const IOMMU_PAGE_RESP_SUCCESS = 0;
export const IOMMU_PAGE_RESP_INVALID = 1;
export const IOMMU_PAGE_RESP_FAILURE = 2;

/** struct iommu_fault_page_request. */
export interface IopfFault {
  flags: number;
  pasid: number;
  grpid: number;
  perm: number;
  addr: bigint;
  /** Vendor data the response must carry back (private_data). */
  privateData?: unknown;
}

/** struct iommu_page_response. */
export interface IommuPageResponse {
  pasid: number;
  grpid: number;
  code: number;
}

/** struct iopf_group: the requests of one page request group, delivered when the last one arrives. */
export class IopfGroup {
  /** Set by the handler (iommufd fault object) to find the group again. */
  cookie = 0;
  private responded = false;
  constructor(
    readonly dev: IommuDevice,
    readonly faults: readonly IopfFault[],
    readonly handle: IommuAttachHandle | null,
  ) {}

  get lastFault(): IopfFault {
    return this.faults[this.faults.length - 1]!;
  }

  /** iopf_group_response: answer the group once; the driver tells the hardware. */
  respond(code: number): void {
    if (this.responded) return;
    this.responded = true;
    const last = this.lastFault;
    const response: IommuPageResponse = { pasid: last.pasid, grpid: last.grpid, code };
    this.dev.unit.ops.pageResponse?.(this.dev, last, response);
  }
}

const partial = new WeakMap<IommuDevice, IopfFault[]>();

/**
 * iommu_report_device_fault: queue a page request; on the group's last page, deliver the group to
 * the domain attached at the PASID (or the RID). Without a handler the group is answered INVALID.
 */
export function iommuReportDeviceFault(dev: IommuDevice, fault: IopfFault): void {
  let list = partial.get(dev);
  if (!list) partial.set(dev, (list = []));
  list.push(fault);
  if (!(fault.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE)) return;
  const faults = list.filter((f) => f.grpid === fault.grpid);
  partial.set(dev, list.filter((f) => f.grpid !== fault.grpid));
  const pasid = fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID ? fault.pasid : IOMMU_NO_PASID;
  const handle = dev.group.pasids.get(pasid) ?? null;
  const group = new IopfGroup(dev, faults, handle);
  const handler = handle?.domain.iopfHandler;
  if (!handler) {
    group.respond(IOMMU_PAGE_RESP_INVALID);
    return;
  }
  handler(group);
}

/** Drops partial groups of a device (on detach, as iopf_queue_discard_partial). */
export function iopfDiscardPartial(dev: IommuDevice): void {
  partial.delete(dev);
}
