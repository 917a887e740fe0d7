// vtd_cap_init: the CAP_REG and ECAP_REG the guest reads, derived from the properties.
import { VTD_FRCD_REG_OFFSET, VTD_IOTLB_REG_OFFSET, VtdCap, VtdEcap } from '@iommu-lab/hw-vtd/format';
import type { IntelIommuConfig } from './config.js';
import { DMAR_FRCD_REG_NR } from './regs.js';

/** VTD_MAMV: the largest address mask of a page-selective invalidation. */
export const VTD_MAMV = 18;
/** 16-bit domain IDs: ND = (16 - 4) / 2. */
export const VTD_CAP_ND = 6;
/** PASID width - 1 with x-pasid-mode (20-bit PASIDs). */
export const VTD_ECAP_PSS = 19;

export function vtdCapInit(c: IntelIommuConfig): { cap: bigint; ecap: bigint } {
  const [cap] = VtdCap.encode({
    fro: VTD_FRCD_REG_OFFSET / 16,
    nfr: DMAR_FRCD_REG_NR - 1,
    nd: VTD_CAP_ND,
    mamv: VTD_MAMV,
    psi: true,
    // SSLPS: 2 MiB and 1 GiB second-stage pages.
    sslps: 0b11,
    esrtps: true,
    mgaw: c.awBits - 1,
    drd: c.dmaDrain,
    dwd: c.dmaDrain,
    sagaw: c.dmaTranslation ? (c.awBits >= 39 ? 0b0010 : 0) | (c.awBits >= 48 ? 0b0100 : 0) : 0,
    cm: c.cachingMode,
    fs1gp: c.fsts && c.fs1gp,
  });
  const [ecap] = VtdEcap.encode({
    qi: true,
    iro: VTD_IOTLB_REG_OFFSET / 16,
    ir: c.intremap,
    mhmv: c.intremap ? 15 : 0,
    dt: c.deviceIotlb,
    pt: c.pt,
    // With x-flts the guest sees first-stage translation only; otherwise second stage (and SRS).
    smts: c.scalableMode,
    fsts: c.fsts,
    srs: c.scalableMode && !c.fsts,
    ssts: c.scalableMode && !c.fsts,
    sc: c.snoopControl,
    pasid: c.pasid,
    pss: c.pasid ? VTD_ECAP_PSS : 0,
    // svm: page requests with drain and no write-buffer flushing; SMPWC (Linux's intel_svm_check wants it); VCMD.
    prs: c.svm,
    pds: c.svm,
    nwfs: c.svm,
    smpwcs: c.svm,
    vcs: c.svm,
  });
  return { cap: cap!, ecap: ecap! };
}
