// The blocked and identity domains (arm_smmu_blocked_domain, arm_smmu_identity_domain): abort and bypass STEs.
import type { IommuDevice, IommuDomain, IommuDomainGeometry, IommuOps } from '@iommu-lab/iommu-core';
import { STE_S1DSS_BYPASS, STE_S1DSS_TERMINATE } from '../format/ste.js';
import { type AttachState, atcInvMaster, attachCommit, attachPrepare, installSte, type InvalidationTarget, type SmmuDomainLike } from './attach.js';
import { clearCd } from './cd-table.js';
import { disableIopf } from './iopf.js';
import { masterOf } from './probe.js';
import { makeAbortSte, makeBypassSte, makeCdtableSte } from './ste-make.js';

export class StaticDomain implements SmmuDomainLike {
  readonly pgsizes: readonly number[] = [];
  readonly geometry: IommuDomainGeometry = { apertureStart: 0n, apertureEnd: 0n, forceAperture: false };
  readonly setDevPasid?: (dev: IommuDevice, pasid: number, old: IommuDomain | null) => void;

  constructor(
    readonly owner: IommuOps,
    readonly type: 'blocked' | 'identity',
  ) {
    if (type === 'blocked') this.setDevPasid = (dev, pasid, old) => this.blockPasid(dev, pasid, old);
  }

  devicesDomain(): InvalidationTarget | null {
    return null;
  }

  /** arm_smmu_attach_dev_blocked / _identity via arm_smmu_attach_dev_ste. */
  attachDev(dev: IommuDevice, old: IommuDomain | null): void {
    const master = masterOf(dev);
    master.vmaster = null;
    const s1dss = this.type === 'blocked' ? STE_S1DSS_TERMINATE : STE_S1DSS_BYPASS;
    let ste = this.type === 'blocked' ? makeAbortSte() : makeBypassSte(master.smmu);
    const state: AttachState = { master, oldDomain: old, ssid: 0 };
    if (master.ssidsInUse) {
      // PASIDs keep the CD table installed: S1DSS gives the RID its blocked or identity behaviour
      state.cdNeedsAts = true;
      attachPrepare(state, this);
      ste = makeCdtableSte(master, state.atsEnabled!, s1dss);
    } else {
      attachPrepare(state, this);
    }
    installSte(master, ste);
    attachCommit(state);
    clearCd(master, 0);
    master.ridDomain = this;
  }

  /** arm_smmu_blocking_set_dev_pasid: clear the PASID's CD; the last PASID gone downgrades the STE. */
  private blockPasid(dev: IommuDevice, pasid: number, old: IommuDomain | null): void {
    const master = masterOf(dev);
    clearCd(master, pasid);
    if (master.atsEnabled) atcInvMaster(master, pasid);
    disableIopf(master, pasid);
    if (old && 'devicesDomain' in old) (old as SmmuDomainLike).devicesDomain()?.removeMaster(master, pasid, old);
    if (!master.ssidsInUse) {
      const sid = master.ridDomain;
      if (sid && (sid.type === 'identity' || sid.type === 'blocked')) sid.attachDev(dev, sid);
    }
  }

  free(): void {}
}
