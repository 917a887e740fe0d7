// struct dmar_domain, the part every driver domain shares (kernel intel/iommu.c): DIDs per unit, devices, PASIDs, cache tags.
import type { IommuDevice, IommuDomain, IommuDomainGeometry, IommuDomainType, IommuOps } from '@iommu-lab/iommu-core';
import { type CacheTag, cacheTagAssignDomain, cacheTagUnassignDomain } from './cache-tag.js';
import type { DeviceDomainInfo } from './device-info.js';
import type { IntelIommu } from './intel-iommu.js';

export interface DevPasid {
  info: DeviceDomainInfo;
  pasid: number;
}

export abstract class DmarDomainBase implements IommuDomain {
  abstract readonly type: IommuDomainType;
  abstract readonly pgsizes: readonly number[];
  abstract readonly geometry: IommuDomainGeometry;
  /** iommu_array: the DID this domain has on each unit, with a reference per attachment. */
  readonly iommuDids = new Map<IntelIommu, { did: number; refcnt: number }>();
  /** RIDs attached (domain->devices) and PASID attachments (domain->dev_pasids). */
  readonly devices = new Set<DeviceDomainInfo>();
  readonly devPasids: DevPasid[] = [];
  readonly cacheTags: CacheTag[] = [];
  forceSnooping = false;

  constructor(readonly owner: IommuOps) {}

  abstract attachDev(dev: IommuDevice, old: IommuDomain | null): void;
  abstract free(): void;

  /** First-stage paging: PASID-based IOTLB invalidations; nested domains use them too. */
  abstract get usesPiotlb(): boolean;

  /** domain_attach_iommu: a DID on first use of the unit, else one more reference. */
  attachIommu(iommu: IntelIommu): void {
    const cur = this.iommuDids.get(iommu);
    if (cur) {
      cur.refcnt++;
      return;
    }
    this.iommuDids.set(iommu, { did: iommu.allocDid(), refcnt: 1 });
  }

  /** domain_detach_iommu. */
  detachIommu(iommu: IntelIommu): void {
    const cur = this.iommuDids.get(iommu);
    if (!cur) return;
    if (--cur.refcnt === 0) {
      iommu.freeDid(cur.did);
      this.iommuDids.delete(iommu);
    }
  }

  /** domain_id_iommu. */
  didOf(iommu: IntelIommu): number {
    const cur = this.iommuDids.get(iommu);
    if (!cur) throw new Error(`domain has no DID on ${iommu.name}`);
    return cur.did;
  }

  /** domain_add_dev_pasid: DID and cache tags for a PASID attachment (undone on failure). */
  addDevPasid(info: DeviceDomainInfo, pasid: number): void {
    this.attachIommu(info.iommu);
    try {
      cacheTagAssignDomain(this, info, pasid);
    } catch (e) {
      this.detachIommu(info.iommu);
      throw e;
    }
    this.devPasids.push({ info, pasid });
  }

  /** domain_remove_dev_pasid. */
  removeDevPasid(info: DeviceDomainInfo, pasid: number): void {
    const i = this.devPasids.findIndex((p) => p.info === info && p.pasid === pasid);
    if (i < 0) return;
    this.devPasids.splice(i, 1);
    cacheTagUnassignDomain(this, info, pasid);
    this.detachIommu(info.iommu);
  }
}

/** domain_remove_dev_pasid for whatever `old` is: static domains keep no PASID state. */
export function removeDevPasid(old: IommuDomain | null, info: DeviceDomainInfo, pasid: number): void {
  if (old instanceof DmarDomainBase) old.removeDevPasid(info, pasid);
}
