// Paging domains (kernel intel/iommu.c): first stage (x86-64 format) or second stage (VT-d SS format), with their attach paths.
import {
  type IommuDevice,
  type IommuDirtyOps,
  type IommuDomain,
  type IommuDomainGeometry,
  type IommuOps,
  type IotlbGather,
  type MapProgress,
} from '@iommu-lab/iommu-core';
import { ErrnoError, type PhysMem } from '@iommu-lab/platform';
import { deviceBlockTranslation } from './block.js';
import { cacheTagAssignDomain, cacheTagFlushAll, cacheTagFlushRange, cacheTagFlushRangeNp } from './cache-tag.js';
import { type DeviceDomainInfo, infoOf } from './device-info.js';
import { DmarDomainBase, removeDevPasid } from './domain-base.js';
import type { IntelIommu } from './intel-iommu.js';
import { IoPageTable } from './io-pgtable.js';
import {
  intelPasidSetupDirtyTracking,
  intelPasidSetupFirstLevel,
  intelPasidSetupSecondLevel,
  intelPasidTearDownEntry,
  PASID_FLAG_FL5LP,
  PASID_FLAG_PAGE_SNOOP,
  PASID_FLAG_PWSNP,
  type SsTableInfo,
} from './pasid.js';
import { vtdssFormat, X86_64_FORMAT } from './pt-format.js';
import { checkFirstStage, checkSecondStage, type Geometry } from './stage-geometry.js';

export type PagingStage = 'first' | 'second';

export class PagingDomain extends DmarDomainBase {
  readonly type = 'paging' as const;
  readonly pgsizes: readonly number[];
  readonly geometry: IommuDomainGeometry;
  readonly pt: IoPageTable;
  /** The memory the tables live in (for dumps). */
  readonly ptMemory: PhysMem;
  readonly dirtyOps?: IommuDirtyOps;
  dirtyTracking = false;
  /** Nested domains built on this one (s1_domains). */
  readonly s1Domains = new Set<DmarDomainBase>();
  private readonly features = { forceCoherence: false, forceWriteable: false };

  constructor(
    owner: IommuOps,
    readonly stage: PagingStage,
    readonly geo: Geometry,
    readonly nestedParent: boolean,
    /** iotlb_sync_map: caching mode (second stage) or a write buffer to flush. */
    readonly iotlbSyncMap: boolean,
    iommu: IntelIommu,
    dirtyTracking: boolean,
  ) {
    super(owner);
    this.features.forceWriteable = nestedParent;
    const format = stage === 'first' ? X86_64_FORMAT : vtdssFormat(this.features);
    this.pt = new IoPageTable(iommu.mem, iommu.frames, format, geo.levels, geo.vaszLg2);
    this.ptMemory = iommu.mem;
    this.pgsizes = geo.pgsizes;
    this.geometry = {
      apertureStart: 0n,
      apertureEnd: (1n << BigInt(stage === 'first' ? geo.vaszLg2 - 1 : geo.vaszLg2)) - 1n,
      forceAperture: true,
    };
    if (dirtyTracking) {
      this.dirtyOps = {
        setDirtyTracking: (on) => this.setDirtyTracking(on),
        readAndClearDirty: (iova, size, noClear, record) => {
          if (this.pt.readAndClearDirty(iova, size, noClear, record) > 0) cacheTagFlushRange(this, BigInt(iova), BigInt(iova + size - 1), true);
        },
      };
    }
  }

  get usesPiotlb(): boolean {
    return this.stage === 'first';
  }

  /** pt_iommu_vtdss_hw_info plus the features the PASID entry reflects. */
  ssInfo(): SsTableInfo {
    return { ssptptr: this.pt.rootPa, aw: this.geo.levels - 2, dirtyTracking: this.dirtyTracking, pageWalkSnoop: this.geo.pageWalkSnoop };
  }

  /** paging_domain_compatible: EINVAL when the unit cannot use this table. */
  compatible(info: DeviceDomainInfo): void {
    const why = this.stage === 'first' ? checkFirstStage(this, info.iommu) : checkSecondStage(this, info.iommu);
    if (why) throw new ErrnoError('EINVAL', 'ioctl', `${info.dev.name}: domain not compatible (${why})`);
  }

  private setupPasid(info: DeviceDomainInfo, pasid: number, old: IommuDomain | null): void {
    const iommu = info.iommu;
    if (old) intelPasidTearDownEntry(iommu, info, pasid, false);
    const did = this.didOf(iommu);
    if (this.stage === 'first') {
      const flags = (this.geo.levels === 5 ? PASID_FLAG_FL5LP : 0) | (this.forceSnooping ? PASID_FLAG_PAGE_SNOOP : 0) | (this.geo.pageWalkSnoop ? PASID_FLAG_PWSNP : 0);
      intelPasidSetupFirstLevel(iommu, info, this.pt.rootPa, pasid, did, flags);
    } else {
      intelPasidSetupSecondLevel(iommu, info, this.ssInfo(), pasid, did);
    }
  }

  /**
   * intel_iommu_attach_device: block, check, take a DID, program the RID's PASID entry, tag the
   * caches. A failure after blocking re-attaches `old`, as the kernel's core revert does.
   */
  attachDev(dev: IommuDevice, old: IommuDomain | null): void {
    const info = infoOf(dev);
    this.compatible(info);
    deviceBlockTranslation(info);
    try {
      this.attachIommu(info.iommu);
      info.domain = this;
      info.domainAttached = true;
      this.devices.add(info);
      try {
        this.setupPasid(info, 0, null);
        cacheTagAssignDomain(this, info, 0);
      } catch (e) {
        deviceBlockTranslation(info);
        throw e;
      }
    } catch (e) {
      restoreOld(old, this, dev);
      throw e;
    }
  }

  /** intel_iommu_set_dev_pasid. */
  setDevPasid(dev: IommuDevice, pasid: number, old: IommuDomain | null): void {
    const info = infoOf(dev);
    if (!info.iommu.pasidSupported) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `${info.iommu.name}: no PASID support`);
    this.compatible(info);
    this.addDevPasid(info, pasid);
    try {
      this.setupPasid(info, pasid, old);
    } catch (e) {
      this.removeDevPasid(info, pasid);
      throw e;
    }
    removeDevPasid(old, info, pasid);
  }

  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number, progress: MapProgress): void {
    this.pt.map(iova, paddr, pgsize, pgcount, prot, progress);
    if (this.iotlbSyncMap) cacheTagFlushRangeNp(this, BigInt(iova), BigInt(iova + pgsize * pgcount - 1), this.stage === 'first');
  }

  unmapPages(iova: number, pgsize: number, pgcount: number, gather: IotlbGather): number {
    const n = this.pt.unmap(iova, pgsize * pgcount);
    if (n > 0) gather.add(iova, n, pgsize);
    return n;
  }

  /** intel_iommu_tlb_sync: flush the gathered range (IH when no table page was freed), then free the pages. */
  iotlbSync(gather: IotlbGather): void {
    if (!gather.empty) cacheTagFlushRange(this, BigInt(gather.start), BigInt(gather.end - 1), this.pt.freelist.length === 0);
    this.pt.releaseFreelist();
  }

  flushIotlbAll(): void {
    cacheTagFlushAll(this);
  }

  iovaToPhys(iova: number): number {
    return this.pt.iovaToPhys(iova);
  }

  /** enforce_cache_coherency: every unit needs ECAP.SC; FS sets PGSNP in the entries, SS sets SNP on new leaves. */
  enforceCacheCoherency(): boolean {
    if (this.forceSnooping) return true;
    const infos = [...this.devices, ...this.devPasids.map((p) => p.info)];
    if (infos.some((i) => !i.iommu.e.sc)) return false;
    this.forceSnooping = true;
    if (this.stage === 'second') this.features.forceCoherence = true;
    return true;
  }

  /** intel_iommu_set_dirty_tracking: SSADE in every PASID entry using this table, nested ones included; undone on failure. */
  setDirtyTracking(enable: boolean): void {
    if (this.dirtyTracking === enable) return;
    const all: DmarDomainBase[] = [this, ...this.s1Domains];
    try {
      for (const d of all) setEntriesDirty(d, enable);
    } catch (e) {
      for (const d of all) setEntriesDirty(d, this.dirtyTracking);
      throw e;
    }
    this.dirtyTracking = enable;
  }

  free(): void {
    if (this.s1Domains.size > 0 || this.devices.size > 0 || this.devPasids.length > 0) return;
    this.pt.destroy();
  }
}

/** Puts the device back in `old` after a failed attach (what __iommu_group_set_domain's revert does). */
export function restoreOld(old: IommuDomain | null, failed: IommuDomain, dev: IommuDevice): void {
  if (old && old !== failed) old.attachDev(dev, failed);
}

/** domain_set_dirty_tracking for one domain's RID and PASID attachments. */
function setEntriesDirty(d: DmarDomainBase, enable: boolean): void {
  for (const info of d.devices) intelPasidSetupDirtyTracking(info.iommu, info, 0, enable);
  for (const p of d.devPasids) intelPasidSetupDirtyTracking(p.info.iommu, p.info, p.pasid, enable);
}
