// The STEs the driver installs (arm_smmu_make_abort/bypass/cdtable/s2_domain_ste).
import { Ste, STE_CFG_ABORT, STE_CFG_BYPASS, STE_CFG_S1_TRANS, STE_CFG_S2_TRANS, STE_EATS_TRANS, STE_S1DSS_BYPASS, STE_SHCFG_INCOMING, STE_STRW_NSEL1 } from '../format/ste.js';
import type { ArmSmmuDevice } from './device.js';
import type { IoPgtableArm } from './io-pgtable-arm.js';
import type { SmmuMaster } from './master.js';

export function makeAbortSte(): bigint[] {
  return Ste.encode({ v: 1, config: STE_CFG_ABORT });
}

export function makeBypassSte(smmu: ArmSmmuDevice): bigint[] {
  return Ste.encode({ v: 1, config: STE_CFG_BYPASS, shcfg: smmu.features.attrTypesOvr ? STE_SHCFG_INCOMING : 0 });
}

/** An STE pointing at the master's CD table; S1DSS says what traffic without a PASID does. */
export function makeCdtableSte(master: SmmuMaster, atsEnabled: boolean, s1dss: number): bigint[] {
  const t = master.cdTable!;
  const f = master.smmu.features;
  return Ste.encode({
    v: 1,
    config: STE_CFG_S1_TRANS,
    s1fmt: t.s1fmt,
    s1ContextPtr: BigInt(t.basePfn * 4096),
    s1cdmax: t.s1cdmax,
    s1dss,
    s1cir: 1,
    s1cor: 1,
    s1csh: 3,
    s1stalld: f.stalls && !master.stallEnabled ? 1 : 0,
    eats: atsEnabled ? STE_EATS_TRANS : 0,
    // the PRI series: the SMMU's own PRG responses must carry the PASID for this device
    ppar: master.prgRespNeedsSsid ? 1 : 0,
    shcfg: f.attrTypesOvr && s1dss === STE_S1DSS_BYPASS ? STE_SHCFG_INCOMING : 0,
    strw: STE_STRW_NSEL1,
    // VMID 0 is reserved for stage-1-only and bypass STEs
    s2vmid: 0,
  });
}

/** An STE translating with a stage-2 domain's tables and VMID. */
export function makeS2DomainSte(master: SmmuMaster, pgtbl: IoPgtableArm, vmid: number, atsEnabled: boolean): bigint[] {
  const f = master.smmu.features;
  const v = pgtbl.s2Vtcr();
  return Ste.encode({
    v: 1,
    config: STE_CFG_S2_TRANS,
    eats: atsEnabled ? STE_EATS_TRANS : 0,
    s2fwb: pgtbl.quirkS2fwb ? 1 : 0,
    shcfg: f.attrTypesOvr ? STE_SHCFG_INCOMING : 0,
    s2vmid: vmid,
    s2t0sz: v.tsz,
    s2sl0: v.sl,
    s2ir0: v.irgn,
    s2or0: v.orgn,
    s2sh0: v.sh,
    s2tg: v.tg,
    s2ps: v.ps,
    s2aa64: 1,
    s2ptw: 1,
    s2s: master.stallEnabled ? 1 : 0,
    s2r: 1,
    s2ttb: BigInt(pgtbl.rootPfn * 4096),
  });
}
