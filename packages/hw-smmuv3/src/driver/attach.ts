// The attach sequence (arm_smmu_attach_prepare / install_ste_for_dev / attach_commit) and ATC maintenance.
import type { IommuDomain } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import { Ste, STE_CFG_S1_TRANS, STE_EATS_TRANS } from '../format/ste.js';
import { cmdAtcInvAll, cmdCfgiSte, cmdPrefetchCfg } from './cmds.js';
import { steUpdateSafe, steUsed, writeEntry } from './entry-writer.js';
import { commitIopf, enableIopf } from './iopf.js';
import type { SmmuMaster, SmmuVmaster } from './master.js';

/** A domain that tracks the masters it must invalidate for (a paging domain, or a nested domain's parent). */
export interface InvalidationTarget {
  addMaster(master: SmmuMaster, ssid: number, domain: IommuDomain, atsEnabled: boolean): void;
  removeMaster(master: SmmuMaster, ssid: number, domain: IommuDomain): void;
  readonly enforceCoherency: boolean;
}

/** Implemented by the driver's domains: where their masters are tracked (to_smmu_domain_devices), if anywhere. */
export interface SmmuDomainLike extends IommuDomain {
  devicesDomain(): InvalidationTarget | null;
  /** A nested domain: the vmaster to bind (throws without a vDEVICE for a translating vSTE). */
  prepareVmaster?(master: SmmuMaster): SmmuVmaster | null;
}

/** struct arm_smmu_attach_state */
export interface AttachState {
  readonly master: SmmuMaster;
  readonly oldDomain: IommuDomain | null;
  readonly ssid: number;
  cdNeedsAts?: boolean;
  disableAts?: boolean;
  atsEnabled?: boolean;
  vmaster?: SmmuVmaster | null;
  /** The new domain takes I/O page faults through stalls or PRI. */
  usingIopf?: boolean;
}

function devicesOf(d: IommuDomain | null): InvalidationTarget | null {
  return d && 'devicesDomain' in d ? (d as SmmuDomainLike).devicesDomain() : null;
}

/** arm_smmu_attach_prepare: decides ATS, binds a vmaster, and adds the master to the new domain's invalidations. */
export function attachPrepare(state: AttachState, newDomain: IommuDomain): void {
  const master = state.master;
  const target = devicesOf(newDomain);
  state.atsEnabled = false;
  if (target || state.cdNeedsAts) state.atsEnabled = !state.disableAts && master.atsSupported;
  state.vmaster = null;
  if (target) {
    const d = newDomain as SmmuDomainLike;
    if (d.prepareVmaster) state.vmaster = d.prepareVmaster(master);
    if (target.enforceCoherency && !master.smmu.canwbs) throw new ErrnoError('EINVAL', 'arm-smmu-v3', 'domain enforces cache coherency and the device cannot');
    enableIopf(state, newDomain);
    target.addMaster(master, state.ssid, newDomain, state.atsEnabled);
  }
}

/** arm_smmu_attach_commit: binds the vmaster, syncs the ATC, and drops the master from the old domain. */
export function attachCommit(state: AttachState): void {
  const master = state.master;
  master.vmaster = state.vmaster ?? null;
  const ats = state.atsEnabled ?? false;
  if (ats && !master.atsEnabled) atcInvMaster(master, 0);
  else if (ats && master.atsEnabled) atcInvMaster(master, state.ssid);
  else if (!ats && master.atsEnabled) atcInvMaster(master, 0);
  commitIopf(state);
  devicesOf(state.oldDomain)?.removeMaster(master, state.ssid, state.oldDomain!);
  master.atsEnabled = ats;
}

/** arm_smmu_atc_inv_master: invalidate the device's whole ATC for a substream. */
export function atcInvMaster(master: SmmuMaster, ssid: number): void {
  master.smmu.issue([cmdAtcInvAll(master.sid, ssid)]);
}

/** arm_smmu_install_ste_for_dev: a hitless STE update (CFGI_STE + CMD_SYNC between steps), then a prefetch. */
export function installSte(master: SmmuMaster, target: readonly bigint[]): void {
  const f = Ste.decode(target);
  if (master.cdTable) master.cdTable.inSte = f.v === 1 && f.config === STE_CFG_S1_TRANS;
  master.steAtsEnabled = f.eats === STE_EATS_TRANS;
  const smmu = master.smmu;
  const sid = master.sid;
  writeEntry(smmu.mem, smmu.strtab.steAddr(sid), target, {
    getUsed: steUsed,
    getUpdateSafe: steUpdateSafe,
    sync: () => smmu.issue([cmdCfgiSte(sid, true)]),
  });
  smmu.issue([cmdPrefetchCfg(sid)], false);
}
