// HWPT objects: paging domains on an IOAS and nested domains on a parent or vIOMMU (hw_pagetable.c).
import { type IommuAttachHandle, type IommuDomain, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_FAULT_ID_VALID, type IommuUserData, type IommuViommu } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import { hwptAttach, hwptDetach, type IommufdDevice } from './device.js';
import type { IommufdIoas } from './ioas.js';
import { IommufdObject } from './object.js';

/** What a HWPT needs from a fault object (iommufd_fault). */
export interface HwptFault {
  readonly obj: IommufdObject;
  /** iommufd_fault_iopf_handler */
  handler(domain: IommuDomain): IommuDomain['iopfHandler'];
  /** iommufd_auto_response_faults: answer what is still pending for a detached handle. */
  autoRespond(handle: IommuAttachHandle): void;
}

export abstract class IommufdHwpt extends IommufdObject {
  domain!: IommuDomain;
  fault: HwptFault | null = null;
  /** IOMMU_HWPT_ALLOC_PASID: may be attached to a PASID (and coexist with PASID attachments). */
  pasidCompat = false;

  protected freeDomainAndFault(): void {
    this.domain?.free();
    this.fault?.obj.put();
  }
}

export class IommufdHwptPaging extends IommufdHwpt {
  readonly type = 'HWPT_PAGING';
  autoDomain = false;
  nestParent = false;
  enforceCacheCoherency = false;
  /** Added to the IOAS's io_pagetable (hwpt_item on ioas->hwpt_list). */
  inIoas = false;

  constructor(readonly ioas: IommufdIoas) {
    super();
  }

  destroy(): void {
    if (this.inIoas) {
      const i = this.ioas.hwpts.indexOf(this);
      if (i >= 0) this.ioas.hwpts.splice(i, 1);
      this.ioas.iopt.removeDomain(this.domain);
      this.inIoas = false;
    }
    this.freeDomainAndFault();
    this.ioas.put();
  }
}

export class IommufdHwptNested extends IommufdHwpt {
  readonly type = 'HWPT_NESTED';
  constructor(
    readonly parent: IommufdHwptPaging,
    /** The vIOMMU object when allocated on one. */
    readonly viommu: IommufdObject | null,
  ) {
    super();
  }

  destroy(): void {
    this.freeDomainAndFault();
    (this.viommu ?? this.parent).put();
  }
}

/** find_hwpt_paging: the paging HWPT itself, or null for a nested one. */
export function findHwptPaging(hwpt: IommufdHwpt): IommufdHwptPaging | null {
  return hwpt instanceof IommufdHwptPaging ? hwpt : null;
}

/** iommufd_hwpt_paging_enforce_cc */
export function hwptPagingEnforceCc(hwpt: IommufdHwptPaging): void {
  if (hwpt.enforceCacheCoherency) return;
  hwpt.enforceCacheCoherency = hwpt.domain.enforceCacheCoherency?.() ?? false;
  if (!hwpt.enforceCacheCoherency) throw new ErrnoError('EINVAL', 'ioctl', 'domain cannot enforce cache coherency');
}

const PAGING_FLAGS = IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;

/**
 * iommufd_hwpt_paging_alloc: a paging domain on an IOAS (attached right away for auto domains),
 * added to the IOAS's io_pagetable. The HWPT's ID is reserved, not yet published.
 */
export function hwptPagingAlloc(
  ctx: IommufdCtx,
  ioas: IommufdIoas,
  idev: IommufdDevice,
  pasid: number,
  flags: number,
  immediateAttach: boolean,
  userData: IommuUserData | null,
): IommufdHwptPaging {
  const ops = idev.dev.unit.ops;
  if ((flags || userData) && !ops.domainAllocUser) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'driver cannot allocate domains with flags or data');
  if (flags & ~PAGING_FLAGS) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `HWPT flags 0x${flags.toString(16)}`);
  if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING && !ops.capable?.(idev.dev, 'DIRTY_TRACKING')) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'device cannot track dirty pages');
  if (flags & IOMMU_HWPT_FAULT_ID_VALID && flags & IOMMU_HWPT_ALLOC_NEST_PARENT) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'a nest parent cannot take page faults');
  if (!ops.domainAllocUser) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'driver cannot allocate paging domains');
  const hwpt = new IommufdHwptPaging(ioas);
  ctx.allocId(hwpt);
  hwpt.pasidCompat = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  ioas.get();
  hwpt.nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
  let attached = false;
  try {
    hwpt.domain = ops.domainAllocUser(idev.dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, null, userData);
    if (idev.enforceCacheCoherency) hwptPagingEnforceCc(hwpt);
    if (immediateAttach) {
      hwptAttach(hwpt, idev, pasid);
      attached = true;
    }
    ioas.iopt.addDomain(hwpt.domain);
    hwpt.inIoas = true;
    ioas.hwpts.push(hwpt);
  } catch (e) {
    if (attached) hwptDetach(idev, pasid);
    ctx.abortAndDestroy(hwpt);
    throw e;
  }
  return hwpt;
}

/** iommufd_hwpt_nested_alloc: a nested domain on a nest-parent paging HWPT of the same driver. */
export function hwptNestedAlloc(ctx: IommufdCtx, parent: IommufdHwptPaging, idev: IommufdDevice, flags: number, userData: IommuUserData): IommufdHwptNested {
  const ops = idev.dev.unit.ops;
  if (flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID) || !userData.len || !ops.domainAllocUser) {
    throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'nested HWPT flags, data or driver support');
  }
  if (parent.autoDomain || !parent.nestParent || parent.domain.owner !== ops) throw new ErrnoError('EINVAL', 'ioctl', 'parent is not a nest parent of this driver');
  const hwpt = new IommufdHwptNested(parent, null);
  ctx.allocId(hwpt);
  hwpt.pasidCompat = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  parent.get();
  try {
    hwpt.domain = ops.domainAllocUser(idev.dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, parent.domain, userData);
    if (hwpt.domain.type !== 'nested') throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'driver returned a non-nested domain');
  } catch (e) {
    ctx.abortAndDestroy(hwpt);
    throw e;
  }
  return hwpt;
}

/** iommufd_viommu_alloc_hwpt_nested: a nested domain allocated through a vIOMMU. */
export function hwptNestedAllocOnViommu(
  ctx: IommufdCtx,
  viommuObj: IommufdObject,
  viommu: IommuViommu,
  parent: IommufdHwptPaging,
  idev: IommufdDevice,
  flags: number,
  userData: IommuUserData,
): IommufdHwptNested {
  if (flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `nested HWPT flags 0x${flags.toString(16)}`);
  if (!userData.len) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'nested HWPT without data');
  const ops = idev.dev.unit.ops;
  if (!ops.domainAllocUser) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'vIOMMU cannot allocate nested domains');
  const hwpt = new IommufdHwptNested(parent, viommuObj);
  ctx.allocId(hwpt);
  hwpt.pasidCompat = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  viommuObj.get();
  try {
    hwpt.domain = ops.domainAllocUser(idev.dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, viommu, userData);
    if (hwpt.domain.type !== 'nested') throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'driver returned a non-nested domain');
  } catch (e) {
    ctx.abortAndDestroy(hwpt);
    throw e;
  }
  return hwpt;
}
