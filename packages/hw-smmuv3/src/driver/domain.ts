// Paging domains (struct arm_smmu_domain): stage 1 (a CD) or stage 2 (an STE), their tables, IDs and invalidation.
import type { IommuDevice, IommuDirtyOps, IommuDomain, IommuDomainGeometry, IommuOps, IotlbGather, MapProgress } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import { STE_S1DSS_BYPASS, STE_S1DSS_SSID0, STE_S1DSS_TERMINATE } from '../format/ste.js';
import { type AttachState, attachCommit, attachPrepare, installSte, type InvalidationTarget, type SmmuDomainLike } from './attach.js';
import { CdTable, clearCd, makeS1Cd, writeCdEntry } from './cd-table.js';
import type { ArmSmmuDevice } from './device.js';
import { domainInvRange, flushTag, type InvalidationScope, type MasterDomain } from './invalidate.js';
import { IoPgtableArm } from './io-pgtable-arm.js';
import { masterOf } from './probe.js';
import type { SmmuMaster } from './master.js';
import { makeCdtableSte, makeS2DomainSte } from './ste-make.js';

interface Attachment extends MasterDomain {
  readonly master: SmmuMaster;
  readonly domain: IommuDomain;
}

export class SmmuDomain implements SmmuDomainLike, InvalidationTarget, InvalidationScope {
  readonly type = 'paging' as const;
  readonly pgsizes: readonly number[];
  readonly geometry: IommuDomainGeometry;
  readonly pgtbl: IoPgtableArm;
  readonly asid: number = 0;
  readonly vmid: number = 0;
  readonly leafPgsize: number;
  readonly dirtyOps?: IommuDirtyOps;
  enforceCoherency = false;
  readonly devices: Attachment[] = [];
  private freed = false;

  /** arm_smmu_domain_finalise: the io-pgtable and the ASID or VMID; throws ENOSPC/ENOMEM leaving nothing behind. */
  constructor(
    readonly owner: IommuOps,
    readonly smmu: ArmSmmuDevice,
    readonly stage: 'S1' | 'S2',
    readonly nestParent: boolean,
    dirty: boolean,
  ) {
    const f = smmu.features;
    const ias = stage === 'S1' ? (f.vax ? 52 : 48) : f.oas;
    const id = stage === 'S1' ? smmu.asids.alloc() : smmu.vmids.alloc();
    try {
      this.pgtbl = new IoPgtableArm(smmu.mem, smmu.frames, { fmt: stage === 'S1' ? 'ARM_64_LPAE_S1' : 'ARM_64_LPAE_S2', ias, oas: f.oas, coherentWalk: f.coherency, quirkHd: dirty, quirkS2fwb: f.s2fwb && nestParent }, (iova, size) =>
        this.invRange(iova, size, 4096, false),
      );
    } catch (e) {
      (stage === 'S1' ? smmu.asids : smmu.vmids).free(id);
      throw e;
    }
    if (stage === 'S1') this.asid = id;
    else this.vmid = id;
    this.pgsizes = f.pgsizes;
    this.leafPgsize = f.pgsizes[0]!;
    this.geometry = { apertureStart: 0n, apertureEnd: (1n << BigInt(this.pgtbl.ias)) - 1n, forceAperture: true };
    if (dirty && stage === 'S1') {
      this.dirtyOps = {
        // arm_smmu_set_dirty_tracking: always on; the bitmap is cleared before tracking starts
        setDirtyTracking: () => undefined,
        readAndClearDirty: (iova, size, noClear, record) => {
          let lo = Infinity;
          let hi = 0;
          this.pgtbl.readAndClearDirty(iova, size, noClear, (a, len) => {
            record(a, len);
            lo = Math.min(lo, a);
            hi = Math.max(hi, a + len);
          });
          if (!noClear && hi > 0) this.invRange(lo, hi - lo, this.leafPgsize, true);
        },
      };
    }
  }

  devicesDomain(): InvalidationTarget {
    return this;
  }

  /** arm_smmu_attach_dev */
  attachDev(dev: IommuDevice, old: IommuDomain | null): void {
    const master = masterOf(dev);
    if (master.smmu !== this.smmu) throw new ErrnoError('EINVAL', 'arm-smmu-v3', 'domain of another SMMU');
    let cdAddr = -1;
    if (this.stage === 'S1') {
      master.cdTable ??= new CdTable(master);
      cdAddr = master.cdTable.allocCdAddr(0);
    } else if (master.ssidsInUse) {
      throw new ErrnoError('EBUSY', 'arm-smmu-v3', 'PASIDs in use need a stage-1 RID domain');
    }
    const state: AttachState = { master, oldDomain: old, ssid: 0 };
    attachPrepare(state, this);
    if (this.stage === 'S1') {
      writeCdEntry(master, 0, cdAddr, makeS1Cd(master, this.pgtbl, this.asid));
      installSte(master, makeCdtableSte(master, state.atsEnabled!, STE_S1DSS_SSID0));
    } else {
      installSte(master, makeS2DomainSte(master, this.pgtbl, this.vmid, state.atsEnabled!));
      clearCd(master, 0);
    }
    attachCommit(state);
    master.ridDomain = this;
  }

  /** arm_smmu_s1_set_dev_pasid / arm_smmu_set_pasid */
  setDevPasid(dev: IommuDevice, pasid: number, old: IommuDomain | null): void {
    const master = masterOf(dev);
    if (master.smmu !== this.smmu || this.stage !== 'S1') throw new ErrnoError('EINVAL', 'arm-smmu-v3', 'PASIDs take stage-1 domains');
    const sid = master.ridDomain;
    if (!master.cdTable?.inSte && sid?.type !== 'identity' && sid?.type !== 'blocked') {
      throw new ErrnoError('EINVAL', 'arm-smmu-v3', 'the RID domain does not use the CD table');
    }
    master.cdTable ??= new CdTable(master);
    const cdAddr = master.cdTable.allocCdAddr(pasid);
    const state: AttachState = { master, oldDomain: old, ssid: pasid };
    attachPrepare(state, this);
    writeCdEntry(master, pasid, cdAddr, makeS1Cd(master, this.pgtbl, this.asid));
    updateSte(master, sid, state.atsEnabled!);
    attachCommit(state);
  }

  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number, progress: MapProgress): void {
    this.pgtbl.mapPages(iova, paddr, pgsize, pgcount, prot, progress);
  }

  unmapPages(iova: number, pgsize: number, pgcount: number, gather: IotlbGather): number {
    return this.pgtbl.unmapPages(iova, pgsize, pgcount, (a, size) => gather.add(a, size, pgsize));
  }

  /** arm_smmu_iotlb_sync: TLBI over what unmap gathered, CMD_SYNC, then the ATC. */
  iotlbSync(gather: IotlbGather): void {
    if (gather.pgsize === 0) return;
    this.invRange(gather.start, gather.end - gather.start, gather.pgsize, true);
  }

  flushIotlbAll(): void {
    this.invRange(0, 0, 0, false);
  }

  iovaToPhys(iova: number): number {
    return this.pgtbl.iovaToPhys(iova);
  }

  /** arm_smmu_enforce_cache_coherency: only when every attached device is CANWBS. */
  enforceCacheCoherency(): boolean {
    this.enforceCoherency = this.smmu.canwbs;
    return this.enforceCoherency;
  }

  /** arm_smmu_domain_free_paging: the tables and the ASID/VMID. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.pgtbl.free();
    if (this.stage === 'S1') this.smmu.asids.free(this.asid);
    else this.smmu.vmids.free(this.vmid);
  }

  invRange(iova: number, size: number, granule: number, leaf: boolean): void {
    domainInvRange(this.smmu, this, this.devices, iova, size, granule, leaf);
  }

  addMaster(master: SmmuMaster, ssid: number, domain: IommuDomain, atsEnabled: boolean): void {
    this.devices.push({ master, sid: master.sid, ssid, domain, atsEnabled });
  }

  /** arm_smmu_remove_master_domain, then the tag flush once no master uses this domain's ASID/VMID. */
  removeMaster(master: SmmuMaster, ssid: number, domain: IommuDomain): void {
    const i = this.devices.findIndex((d) => d.master === master && d.ssid === ssid && d.domain === domain);
    if (i < 0) return;
    this.devices.splice(i, 1);
    if (this.devices.length === 0) flushTag(this.smmu, this);
  }
}

/** arm_smmu_update_ste: once a PASID is in use the STE points at the CD table, S1DSS following the RID domain. */
export function updateSte(master: SmmuMaster, sidDomain: IommuDomain | null, atsEnabled: boolean): void {
  if (master.cdTable?.inSte && master.steAtsEnabled === atsEnabled) return;
  const s1dss = sidDomain?.type === 'identity' ? STE_S1DSS_BYPASS : STE_S1DSS_TERMINATE;
  installSte(master, makeCdtableSte(master, atsEnabled, s1dss));
}
