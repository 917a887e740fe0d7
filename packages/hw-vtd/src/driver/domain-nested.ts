// Nested domains (kernel intel/nested.c): a user stage-1 table (struct iommu_hwpt_vtd_s1) over a second-stage nest parent.
import {
  type IommuDevice,
  type IommuDomain,
  type IommuOps,
  type IommuUserDataArray,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_VTD_INV_FLAGS_LEAF,
  iommu_hwpt_vtd_s1_invalidate,
  iommuCopyStructFromUserArray,
} from '@iommu-lab/iommu-core';
import { ErrnoError, U64_MAX } from '@iommu-lab/platform';
import { deviceBlockTranslation } from './block.js';
import { cacheTagAssignDomain, cacheTagFlushRange, cacheTagUnassignDomain } from './cache-tag.js';
import { infoOf, iopfForDomainSet } from './device-info.js';
import { DmarDomainBase, removeDevPasid } from './domain-base.js';
import { type PagingDomain, restoreOld } from './domain-paging.js';
import { intelPasidSetupNested, intelPasidTearDownEntry, type VtdS1Config } from './pasid.js';
import type { LabVtdViommu } from './viommu-lab.js';

export class NestedDomain extends DmarDomainBase {
  readonly type = 'nested' as const;
  readonly pgsizes: readonly number[] = [];
  readonly geometry = { apertureStart: 0n, apertureEnd: 0n, forceAperture: false };
  /** iommu-lab extension: the vIOMMU this domain was allocated over (its faults are reported there). */
  viommu: LabVtdViommu | null = null;

  constructor(
    owner: IommuOps,
    /** domain->s2_domain. */
    readonly s2: PagingDomain,
    /** domain->s1_cfg, as user space gave it (checked at attach). */
    readonly s1: VtdS1Config,
  ) {
    super(owner);
    s2.s1Domains.add(this);
  }

  get parent(): IommuDomain {
    return this.s2;
  }

  get usesPiotlb(): boolean {
    return true;
  }

  private setup(dev: IommuDevice, pasid: number): void {
    const info = infoOf(dev);
    intelPasidSetupNested(info.iommu, info, pasid, this.didOf(info.iommu), this.s1, this.s2.ssInfo(), this.s2.forceSnooping);
  }

  /** intel_nested_attach_dev; a failure after blocking re-attaches `old`. */
  attachDev(dev: IommuDevice, old: IommuDomain | null): void {
    const info = infoOf(dev);
    this.s2.compatible(info);
    iopfForDomainSet(this, info);
    deviceBlockTranslation(info);
    try {
      this.attachIommu(info.iommu);
      try {
        cacheTagAssignDomain(this, info, 0);
        try {
          this.setup(dev, 0);
        } catch (e) {
          cacheTagUnassignDomain(this, info, 0);
          throw e;
        }
      } catch (e) {
        this.detachIommu(info.iommu);
        throw e;
      }
    } catch (e) {
      restoreOld(old, this, dev);
      throw e;
    }
    info.domain = this;
    info.domainAttached = true;
    this.devices.add(info);
  }

  /** intel_nested_set_dev_pasid. */
  setDevPasid(dev: IommuDevice, pasid: number, old: IommuDomain | null): void {
    const info = infoOf(dev);
    if (!info.iommu.pasidSupported) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `${info.iommu.name}: no PASID support`);
    this.s2.compatible(info);
    iopfForDomainSet(this, info);
    this.addDevPasid(info, pasid);
    try {
      if (old) intelPasidTearDownEntry(info.iommu, info, pasid, false);
      this.setup(dev, pasid);
    } catch (e) {
      this.removeDevPasid(info, pasid);
      throw e;
    }
    removeDevPasid(old, info, pasid);
  }

  /**
   * intel_nested_cache_invalidate_user: each struct iommu_hwpt_vtd_s1_invalidate becomes a flush
   * of the domain's cache tags (PASID-based IOTLB, and device-TLB with ATS). Stops at the first
   * bad entry; entry_num becomes the number handled.
   */
  cacheInvalidateUser(array: IommuUserDataArray): void {
    let processed = 0;
    try {
      if (array.type !== IOMMU_HWPT_INVALIDATE_DATA_VTD_S1) throw new ErrnoError('EINVAL', 'ioctl', `invalidation data type ${array.type}`);
      for (let index = 0; index < array.entry_num; index++) {
        const inv = iommuCopyStructFromUserArray(iommu_hwpt_vtd_s1_invalidate, array, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, index, 24);
        if ((inv.flags & ~IOMMU_VTD_INV_FLAGS_LEAF) !== 0 || inv.__reserved !== 0) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `entry ${index}: flags 0x${inv.flags.toString(16)}`);
        if ((inv.addr & 0xfffn) !== 0n || (inv.npages === U64_MAX && inv.addr !== 0n)) throw new ErrnoError('EINVAL', 'ioctl', `entry ${index}: addr 0x${inv.addr.toString(16)}`);
        const end = BigInt.asUintN(64, inv.addr + BigInt.asUintN(64, inv.npages << 12n) - 1n);
        cacheTagFlushRange(this, inv.addr, end, (inv.flags & IOMMU_VTD_INV_FLAGS_LEAF) !== 0);
        processed++;
      }
    } finally {
      array.entry_num = processed;
    }
  }

  free(): void {
    this.s2.s1Domains.delete(this);
    this.viommu?.nested.delete(this);
  }
}
