// The guest's enlightened PASID allocation (Linux 5.x intel/pasid.c vcmd_alloc_pasid/vcmd_free_pasid and iommu.c
// register_pasid_allocator): in a guest (caching mode) with ECAP.VCS and VCCAP.PAS, the VT-d driver registers a
// custom IOASID allocator whose alloc and free are virtual commands to the vIOMMU.
import {
  DMA_VCS_PAS,
  DMAR_VCCAP_REG,
  DMAR_VCMD_REG,
  DMAR_VCRSP_REG,
  VCMD_CMD_ALLOC,
  VCMD_CMD_FREE,
  VCMD_VRSP_IP,
  VCMD_VRSP_SC_INVALID_PASID,
  VCMD_VRSP_SC_NO_PASID_AVAIL,
  VCMD_VRSP_SC_SUCCESS,
  vcmdEncode,
  vcrspDecode,
} from '@iommu-lab/hw-vtd/format';
import { INVALID_IOASID, type IoasidAllocatorOps } from '@iommu-lab/ioasid';
import type { GuestMmio } from '../mmio-regs.js';

/** PASID_MIN and PASID_MAX of intel/pasid.h: PASID 0 is RID2PASID; 20-bit PASIDs. */
export const PASID_MIN = 1;
export const PASID_MAX = 0x10_0000;

/** What the virtual commands did, for the guest's log. */
export interface VcmdLog {
  allocs: number;
  frees: number;
  /** "No PASID available", "Invalid PASID", or an unexpected code. */
  errors: string[];
}

/** IOMMU_WAIT_OP on VCRSP: reads until IP clears (each read an exit). */
function waitResponse(regs: GuestMmio): bigint {
  for (let i = 0; i < 1000; i++) {
    const v = regs.readq(DMAR_VCRSP_REG);
    if ((v & VCMD_VRSP_IP) === 0n) return v;
  }
  throw new Error('DMAR hardware is malfunctioning: virtual command did not complete');
}

/** vcmd_alloc_pasid: the PASID, or -ENOSPC ("No PASID available") / -ENODEV (an unexpected code). */
export function vcmdAllocPasid(regs: GuestMmio, log: VcmdLog): number {
  regs.writeq(DMAR_VCMD_REG, vcmdEncode(VCMD_CMD_ALLOC));
  const r = vcrspDecode(waitResponse(regs));
  if (r.sc === VCMD_VRSP_SC_SUCCESS) {
    log.allocs++;
    return r.pasid;
  }
  log.errors.push(r.sc === VCMD_VRSP_SC_NO_PASID_AVAIL ? 'No PASID available' : `Unexpected error code ${r.sc}`);
  return r.sc === VCMD_VRSP_SC_NO_PASID_AVAIL ? -28 : -19;
}

/** vcmd_free_pasid. */
export function vcmdFreePasid(regs: GuestMmio, pasid: number, log: VcmdLog): void {
  regs.writeq(DMAR_VCMD_REG, vcmdEncode(VCMD_CMD_FREE, pasid));
  const r = vcrspDecode(waitResponse(regs));
  if (r.sc === VCMD_VRSP_SC_SUCCESS) log.frees++;
  else log.errors.push(r.sc === VCMD_VRSP_SC_INVALID_PASID ? 'Invalid PASID' : `Unexpected error code ${r.sc}`);
}

/** vccap_pasid: the vIOMMU can allocate PASIDs. */
export function vccapPasid(regs: GuestMmio): boolean {
  return (regs.readq(DMAR_VCCAP_REG) & DMA_VCS_PAS) !== 0n;
}

/** intel_vcmd_ioasid_alloc/free as a custom IOASID allocator; pdata names the unit. */
export function intelVcmdAllocator(regs: GuestMmio, log: VcmdLog, pdata: string): IoasidAllocatorOps {
  return {
    alloc(min: number, max: number): number {
      // The virtual command interface always uses the full 20-bit range; the host decides which PASID.
      if (min < PASID_MIN || max > PASID_MAX) return INVALID_IOASID;
      const pasid = vcmdAllocPasid(regs, log);
      return pasid < 0 ? INVALID_IOASID : pasid;
    },
    free(id: number): void {
      vcmdFreePasid(regs, id, log);
    },
    pdata,
  };
}
