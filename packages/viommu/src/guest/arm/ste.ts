// The STEs and the CD the guest driver builds (Linux arm_smmu_make_abort_ste, _bypass_ste, _cdtable_ste,
// arm_smmu_make_s1_cd), IHI0070 5.2 and 5.4, as eight little-endian dwords.
import { Cd, LINUX_MAIR, Ste, STE_CFG_ABORT, STE_CFG_BYPASS, STE_CFG_S1_TRANS, STE_EATS_TRANS, STE_SHCFG_INCOMING, STE_STRW_NSEL1 } from '@iommu-lab/hw-smmuv3/format';

/** STRTAB_STE_1_S1C_CACHE_WBRA and ARM_SMMU_SH_ISH. */
const CACHE_WBRA = 1;
const SH_ISH = 3;

export function makeAbortSte(): bigint[] {
  return Ste.encode({ v: 1, config: STE_CFG_ABORT });
}

export function makeBypassSte(attrTypesOvr: boolean): bigint[] {
  return Ste.encode({ v: 1, config: STE_CFG_BYPASS, ...(attrTypesOvr ? { shcfg: STE_SHCFG_INCOMING } : {}) });
}

export interface CdTableSteArgs {
  /** The CD table's GPA, its S1Fmt and S1CDMax. */
  cdtab: number;
  s1fmt: number;
  s1cdmax: number;
  atsEnabled: boolean;
  s1dss: number;
  /** FEAT_STALLS without a stall-enabled master: S1STALLD. */
  stallDisable: boolean;
  attrTypesOvr: boolean;
}

/** arm_smmu_make_cdtable_ste: stage 1 through the master's CD table, StreamWorld NS-EL1 with VMID 0. */
export function makeCdtableSte(a: CdTableSteArgs): bigint[] {
  return Ste.encode({
    v: 1,
    config: STE_CFG_S1_TRANS,
    s1fmt: a.s1fmt,
    s1ContextPtr: BigInt(a.cdtab),
    s1cdmax: a.s1cdmax,
    s1dss: a.s1dss,
    s1cir: CACHE_WBRA,
    s1cor: CACHE_WBRA,
    s1csh: SH_ISH,
    s1stalld: a.stallDisable ? 1 : 0,
    eats: a.atsEnabled ? STE_EATS_TRANS : 0,
    ...(a.attrTypesOvr && a.s1dss === 1 ? { shcfg: STE_SHCFG_INCOMING } : {}),
    strw: STE_STRW_NSEL1,
    s2vmid: 0,
  });
}

export interface S1CdArgs {
  /** io-pgtable's TCR: T0SZ = 64 - ias, IPS from oas. */
  t0sz: number;
  ips: number;
  /** Coherent table walks: inner/outer write-back and inner-shareable; else non-cacheable, outer-shareable. */
  coherent: boolean;
  asid: number;
  /** TTB0: the GPA of the stage-1 root table. */
  ttb0: number;
  stall: boolean;
}

/** arm_smmu_make_s1_cd: TTB0 only (EPD1), AArch64, record and abort faults, ASET, Linux's MAIR. */
export function makeS1Cd(a: S1CdArgs): bigint[] {
  return Cd.encode({
    t0sz: a.t0sz,
    tg0: 0,
    ir0: a.coherent ? 1 : 0,
    or0: a.coherent ? 1 : 0,
    sh0: a.coherent ? SH_ISH : 2,
    epd1: 1,
    v: 1,
    ips: a.ips,
    aa64: 1,
    s: a.stall ? 1 : 0,
    r: 1,
    a: 1,
    aset: 1,
    asid: a.asid,
    ttb0: BigInt(a.ttb0),
    mair: LINUX_MAIR,
  });
}

export interface SvaCdArgs {
  asid: number;
  /** The process's page-table root (mm->pgd) and the CPU's PARange encoding (ID_AA64MMFR0_EL1.PARange). */
  ttb0: number;
  ips: number;
  /** VA size of the process (vabits_actual). */
  vaBits: number;
  /** MAIR_EL1: the CPU's memory attributes, which the process's PTEs index. */
  mair: bigint;
}

/** arm_smmu_make_sva_cd: the process's TTB0 and VA size, write-back inner-shareable walks, EPD1, R, A, ASET. */
export function makeSvaCd(a: SvaCdArgs): bigint[] {
  return Cd.encode({
    t0sz: 64 - a.vaBits,
    tg0: 0,
    ir0: 1,
    or0: 1,
    sh0: SH_ISH,
    epd1: 1,
    v: 1,
    ips: a.ips,
    aa64: 1,
    r: 1,
    a: 1,
    aset: 1,
    asid: a.asid,
    ttb0: BigInt(a.ttb0),
    mair: a.mair,
  });
}
