// Nested domains on a vIOMMU (arm-smmu-v3-iommufd.c): a validated vSTE, turned into a physical STE over the parent's stage 2.
import type { IommuDevice, IommuDomain, IommuDomainGeometry, IommuOps } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import {
  STE_0_NESTING_ALLOWED,
  STE_1_NESTING_ALLOWED,
  STE_CFG_ABORT,
  STE_CFG_BYPASS,
  STE_CFG_NESTED,
  STE_CFG_S1_TRANS,
  STE_EATS_ABT,
  STE_EATS_TRANS,
} from '../format/ste.js';
import { type AttachState, attachCommit, attachPrepare, installSte, type InvalidationTarget, type SmmuDomainLike } from './attach.js';
import type { SmmuDomain } from './domain.js';
import type { SmmuMaster, SmmuVmaster } from './master.js';
import { masterOf } from './probe.js';
import { makeAbortSte, makeS2DomainSte } from './ste-make.js';
import type { ArmVsmmu } from './viommu.js';

const CFG_MASK = 0xen;
const EATS_MASK = 0x3000_0000n;
const MEV = 1n << 19n;
/** The host's own field, like EATS: PRG responses the SMMU makes itself carry the PASID (the PRI series). */
const PPAR = 1n << 18n;

function cfgOf(ste0: bigint): number {
  return Number((ste0 & CFG_MASK) >> 1n);
}

/** arm_smmu_validate_vste: EIO for a bit outside the nesting masks, a Config other than abort/bypass/S1, or EATS other than 0/1. */
export function validateVste(ste: readonly [bigint, bigint]): { ste0: bigint; ste1: bigint; enableAts: boolean } {
  const ste0 = ste[0];
  let ste1 = ste[1];
  if ((ste0 & 1n) === 0n) return { ste0: 0n, ste1: 0n, enableAts: false };
  if ((ste0 & ~STE_0_NESTING_ALLOWED) !== 0n || (ste1 & ~STE_1_NESTING_ALLOWED) !== 0n) {
    throw new ErrnoError('EIO', 'ioctl', 'vSTE sets bits outside STRTAB_STE_0/1_NESTING_ALLOWED');
  }
  const cfg = cfgOf(ste0);
  if (cfg !== STE_CFG_ABORT && cfg !== STE_CFG_BYPASS && cfg !== STE_CFG_S1_TRANS) throw new ErrnoError('EIO', 'ioctl', `vSTE Config ${cfg} is not abort, bypass or S1 translate`);
  const eats = Number((ste1 & EATS_MASK) >> 28n);
  ste1 &= ~EATS_MASK;
  if (eats !== STE_EATS_ABT && eats !== STE_EATS_TRANS) throw new ErrnoError('EIO', 'ioctl', `vSTE EATS ${eats} is not 0 or 1`);
  return { ste0, ste1, enableAts: cfg === STE_CFG_S1_TRANS && eats === STE_EATS_TRANS };
}

/** struct arm_smmu_nested_domain: attach_dev and free only, no cache_invalidate_user (invalidation goes to the vIOMMU). */
export class NestedDomain implements SmmuDomainLike {
  readonly type = 'nested' as const;
  readonly pgsizes: readonly number[] = [];
  readonly geometry: IommuDomainGeometry;
  readonly parent: SmmuDomain;

  constructor(
    readonly owner: IommuOps,
    readonly vsmmu: ArmVsmmu,
    /** vSTE dwords 0 and 1 (EATS cleared). */
    readonly ste: readonly [bigint, bigint],
    readonly enableAts: boolean,
  ) {
    this.parent = vsmmu.parent;
    this.geometry = this.parent.geometry;
  }

  get config(): number {
    return (this.ste[0] & 1n) === 0n ? STE_CFG_ABORT : cfgOf(this.ste[0]);
  }

  devicesDomain(): InvalidationTarget {
    return this.parent;
  }

  /** arm_smmu_attach_prepare_vmaster: a translating vSTE needs the device's vSID (its vDEVICE). */
  prepareVmaster(master: SmmuMaster): SmmuVmaster | null {
    const vsid = this.vsmmu.core.virtIdOf(master.dev);
    if (vsid === null) {
      const cfg = cfgOf(this.ste[0]);
      if (cfg === STE_CFG_ABORT || cfg === STE_CFG_BYPASS) return null;
      throw new ErrnoError('ENOENT', 'ioctl', `${master.dev.name} has no vDEVICE on the vIOMMU`);
    }
    return { vsmmu: this.vsmmu, vsid };
  }

  /** arm_smmu_attach_dev_nested */
  attachDev(dev: IommuDevice, old: IommuDomain | null): void {
    const master = masterOf(dev);
    if (this.vsmmu.smmu !== master.smmu) throw new ErrnoError('EINVAL', 'arm-smmu-v3', 'vIOMMU of another SMMU');
    if (master.ssidsInUse) throw new ErrnoError('EBUSY', 'arm-smmu-v3', 'PASIDs in use');
    const state: AttachState = { master, oldDomain: old, ssid: 0 };
    // The VM drives ATS through EATS of its vSTE: without it the ATC would not be invalidated
    if (cfgOf(this.ste[0]) === STE_CFG_S1_TRANS) state.disableAts = !this.enableAts;
    attachPrepare(state, this);
    installSte(master, this.physicalSte(master, state.atsEnabled!));
    attachCommit(state);
    master.ridDomain = this;
  }

  /** arm_smmu_make_nested_domain_ste: abort; bypass = the parent's stage 2 alone; S1 = nested over it. */
  physicalSte(master: SmmuMaster, atsEnabled: boolean): bigint[] {
    const s2 = () => makeS2DomainSte(master, this.parent.pgtbl, this.vsmmu.vmid, atsEnabled);
    switch (this.config) {
      case STE_CFG_S1_TRANS: {
        const t = s2();
        t[0] = 1n | (BigInt(STE_CFG_NESTED) << 1n) | (this.ste[0] & ~CFG_MASK);
        t[1] = t[1]! | this.ste[1] | MEV | (master.prgRespNeedsSsid ? PPAR : 0n);
        return t;
      }
      case STE_CFG_BYPASS:
        return s2();
      default:
        return makeAbortSte();
    }
  }

  free(): void {}
}

