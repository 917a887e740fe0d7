// struct iommu_domain and struct iommu_domain_ops (include/linux/iommu.h): what a vendor domain implements.
import type { IommuDevice } from './device.js';
import type { IotlbGather } from './gather.js';
import type { IopfGroup } from './iopf.js';
import type { IommuOps } from './ops.js';
import type { IommuUserDataArray } from './user-data.js';

// Mapping protection (IOMMU_READ ... IOMMU_PRIV).
export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
export const IOMMU_CACHE = 1 << 2;
export const IOMMU_NOEXEC = 1 << 3;
export const IOMMU_MMIO = 1 << 4;
export const IOMMU_PRIV = 1 << 5;

/** The PASID of DMA without PASID (RID_PASID); attach with a PASID never uses it. */
export const IOMMU_NO_PASID = 0;

export type IommuDomainType = 'blocked' | 'identity' | 'paging' | 'nested' | 'sva';

/** struct iommu_domain_geometry: the IOVA range the domain can translate (inclusive end). */
export interface IommuDomainGeometry {
  apertureStart: bigint;
  apertureEnd: bigint;
  forceAperture: boolean;
}

/** struct iommu_dirty_ops. */
export interface IommuDirtyOps {
  /** set_dirty_tracking: start or stop recording writes; starting clears stale dirty bits. */
  setDirtyTracking(enabled: boolean): void;
  /**
   * read_and_clear_dirty: report each dirty IOPTE in [iova, iova + size) to `record(iova, length)`
   * and clear it unless noClear. One call per IOPTE: a dirty huge IOPTE reports its whole size.
   */
  readAndClearDirty(iova: number, size: number, noClear: boolean, record: (iova: number, length: number) => void): void;
}

/** Progress of a map_pages call, so the caller can unwind a partial map. */
export interface MapProgress {
  mapped: number;
}

/**
 * A domain: struct iommu_domain with its iommu_domain_ops. Addresses are byte numbers, exact
 * because every IOVA and physical address handed to these hooks is aligned to a page size.
 * Hooks throw ErrnoError; a hook a domain lacks makes the core answer EOPNOTSUPP.
 */
export interface IommuDomain {
  readonly type: IommuDomainType;
  /** The driver that created the domain (domain->owner). */
  readonly owner: IommuOps;
  /** Supported page sizes in bytes, ascending (pgsize_bitmap); empty for non-paging domains. */
  readonly pgsizes: readonly number[];
  readonly geometry: IommuDomainGeometry;
  /** The nest parent of a nested domain. */
  readonly parent?: IommuDomain;
  readonly dirtyOps?: IommuDirtyOps;
  /** Set by the domain's user (iommufd): receives groups of page requests (iopf_handler). */
  iopfHandler?: (group: IopfGroup) => void;

  /** attach_dev: make `dev` (its RID) translate through this domain, replacing `old`. */
  attachDev(dev: IommuDevice, old: IommuDomain | null): void;
  /** set_dev_pasid: make one PASID of `dev` translate through this domain, replacing `old`. */
  setDevPasid?(dev: IommuDevice, pasid: number, old: IommuDomain | null): void;
  /** map_pages: map pgcount pages of pgsize at iova -> paddr with prot; report progress for unwinding. */
  mapPages?(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number, progress: MapProgress): void;
  /** unmap_pages: unmap up to pgcount pages of pgsize at iova; returns bytes unmapped; record flushes in gather. */
  unmapPages?(iova: number, pgsize: number, pgcount: number, gather: IotlbGather): number;
  /** iotlb_sync: flush what an unmap recorded in the gather. */
  iotlbSync?(gather: IotlbGather): void;
  /** flush_iotlb_all */
  flushIotlbAll?(): void;
  /** iova_to_phys: the physical address for iova, or -1 when nothing is mapped there. */
  iovaToPhys?(iova: number): number;
  /** cache_invalidate_user: invalidate caches of a user-owned (nested) table; sets array.entry_num to the count handled. */
  cacheInvalidateUser?(array: IommuUserDataArray): void;
  /** enforce_cache_coherency: true once no-snoop is blocked for this domain. */
  enforceCacheCoherency?(): boolean;
  /** free: release the domain's tables and IDs. */
  free(): void;
}

export function isPagingDomain(d: IommuDomain): boolean {
  return d.type === 'paging';
}
