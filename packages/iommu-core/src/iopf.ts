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
 * find_fault_handler: the handle at the request's PASID; with a user-managed PASID table (SMMUv3
 * nesting) a PASID without one falls back to a nested domain on the RID.
 */
function findFaultHandler(dev: IommuDevice, fault: IopfFault): IommuAttachHandle | null {
  const pasids = dev.group.pasids;
  let handle: IommuAttachHandle | null;
  if (fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID) {
    handle = pasids.get(fault.pasid) ?? null;
    if (!handle) {
      if (!dev.unit.ops.userPasidTable) return null;
      const rid = pasids.get(IOMMU_NO_PASID);
      handle = rid?.domain.type === 'nested' ? rid : null;
    }
  } else {
    handle = pasids.get(IOMMU_NO_PASID) ?? null;
  }
  return handle?.domain.iopfHandler ? handle : null;
}

/**
 * iommu_report_device_fault: a request nobody handles is answered INVALID at once; otherwise it
 * is queued, and the group goes to the handler's domain when its last page arrives.
 */
export function iommuReportDeviceFault(dev: IommuDevice, fault: IopfFault): void {
  const handle = findFaultHandler(dev, fault);
  if (!handle) {
    dev.unit.ops.pageResponse?.(dev, fault, { pasid: fault.pasid, grpid: fault.grpid, code: IOMMU_PAGE_RESP_INVALID });
    return;
  }
  let list = partial.get(dev);
  if (!list) partial.set(dev, (list = []));
  if (!(fault.flags & IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE)) {
    list.push(fault);
    return;
  }
  // iopf_group_alloc: the partial faults of the same group, then this last one.
  const faults = [...list.filter((f) => f.grpid === fault.grpid), fault];
  partial.set(dev, list.filter((f) => f.grpid !== fault.grpid));
  handle.domain.iopfHandler!(new IopfGroup(dev, faults, handle));
}

/** Drops partial groups of a device (on detach, as iopf_queue_discard_partial). */
export function iopfDiscardPartial(dev: IommuDevice): void {
  partial.delete(dev);
}
