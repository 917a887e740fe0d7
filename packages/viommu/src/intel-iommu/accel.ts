// intel_iommu_accel.c: with x-flts the guest's first-stage table is bound to the host as a nested HWPT
// (IOMMU_HWPT_ALLOC VTD_S1 over the nest parent) and its PASID-based IOTLB invalidations are forwarded.
import {
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_VTD_INV_FLAGS_LEAF,
  IOMMU_VTD_S1_EAFE,
  IOMMU_VTD_S1_SRE,
  IOMMU_VTD_S1_WPE,
  iommu_hwpt_vtd_s1,
} from '@iommu-lab/iommu-core';
import { PASID_ENTRY_PGTT_FL_ONLY, PASID_ENTRY_PGTT_PT } from '@iommu-lab/hw-vtd/format';
import type { VtdAddressSpace } from './address-space.js';
import type { VtdState } from './state.js';
import { pe, PASID_0 } from './structures.js';

/** iommu_hwpt_vtd_s1_invalidate, reused for every forwarded invalidation. */
const inv = new Uint8Array(24);
const invView = new DataView(inv.buffer);

/** IOMMU_HWPT_DATA_VTD_S1 for a guest PASID entry's first stage: FSPTPTR, its address width, SRE/WPE/EAFE. */
export function vtdS1Data(w: Uint32Array): Uint8Array {
  return iommu_hwpt_vtd_s1.encode({
    flags: BigInt((pe.sre(w) ? IOMMU_VTD_S1_SRE : 0) | (pe.wpe(w) ? IOMMU_VTD_S1_WPE : 0) | (pe.eafe(w) ? IOMMU_VTD_S1_EAFE : 0)),
    pgtbl_addr: BigInt(pe.fsptptr(w)),
    addr_width: pe.fsAw(w),
  });
}

/** The iommu_hwpt_vtd_s1_invalidate of 2^am pages at pfn (npages < 0: all of it), LEAF when IH; valid until the next call. */
export function vtdS1Invalidate(pfn: number, npages: number, ih: boolean): Uint8Array {
  if (npages < 0) {
    invView.setBigUint64(0, 0n, true);
    invView.setBigUint64(8, 0xffff_ffff_ffff_ffffn, true);
  } else {
    invView.setUint32(0, (pfn % 2 ** 20) * 4096, true);
    invView.setUint32(4, Math.floor(pfn / 2 ** 20), true);
    invView.setUint32(8, npages >>> 0, true);
    invView.setUint32(12, Math.floor(npages / 2 ** 32), true);
  }
  invView.setUint32(16, ih ? IOMMU_VTD_INV_FLAGS_LEAF : 0, true);
  invView.setUint32(20, 0, true);
  return inv;
}

/**
 * vtd_create_fs_hwpt: the guest PASID entry's first stage as IOMMU_HWPT_DATA_VTD_S1 over the default (parent) HWPT;
 * PASID-capable (IOMMU_HWPT_ALLOC_PASID) when the guest has PASIDs and the device carries them, so that other
 * PASIDs of the device can be attached beside it.
 */
function createFsHwpt(s: VtdState, as: VtdAddressSpace): number {
  const data = vtdS1Data(as.pcEntry);
  const dev = as.dev;
  // Over the fault-reporting vIOMMU when the host has the iommu-lab extension, else over the nest parent.
  const flags = s.cfg.pasid && (as.hiod.caps?.maxPasidLog2 ?? 0) > 0 ? IOMMU_HWPT_ALLOC_PASID : 0;
  return dev.vfio.backend.hwptAlloc(dev.vfio.devId, as.labViommuId || dev.defaultHwpt, flags, IOMMU_HWPT_DATA_VTD_S1, data);
}

function destroyOldFsHwpt(as: VtdAddressSpace): void {
  if (!as.fsHwptId) return;
  as.dev.vfio.backend.destroy(as.fsHwptId);
  as.fsHwptId = 0;
}

/** vtd_device_attach_iommufd: FS -> a new nested HWPT attached (replacing the old one); PT -> the default HWPT. */
function attach(s: VtdState, as: VtdAddressSpace): void {
  const pgtt = pe.pgtt(as.pcEntry);
  if (pgtt !== PASID_ENTRY_PGTT_FL_ONLY && pgtt !== PASID_ENTRY_PGTT_PT) throw new Error(`Invalid PGTT type ${pgtt}`);
  const dev = as.dev;
  const hwpt = pgtt === PASID_ENTRY_PGTT_FL_ONLY ? createFsHwpt(s, as) : dev.defaultHwpt;
  try {
    dev.vfio.attach(hwpt);
  } catch (e) {
    if (pgtt === PASID_ENTRY_PGTT_FL_ONLY) dev.vfio.backend.destroy(hwpt);
    throw e;
  }
  destroyOldFsHwpt(as);
  if (pgtt === PASID_ENTRY_PGTT_FL_ONLY) as.fsHwptId = hwpt;
}

/** vtd_device_detach_iommufd: blocked while DMAR is on in scalable mode, else back to the default HWPT. */
function detach(s: VtdState, as: VtdAddressSpace): void {
  const dev = as.dev;
  if (s.dmarEnabled && s.rootScalable) dev.vfio.detach();
  else dev.vfio.attach(dev.defaultHwpt);
  destroyOldFsHwpt(as);
}

/**
 * vtd_propagate_guest_pasid: the PASID cache entry changed; make the host binding follow it. Returns an
 * error message (QEMU reports and continues) or null.
 */
export function propagateGuestPasid(s: VtdState, as: VtdAddressSpace, prefix: string): string | null {
  if (!s.cfg.fsts || as.hiod.kind !== 'iommufd') return null;
  const tp = s.tp.bind;
  if (tp.enabled) tp.emit({ dev: as.hiod.name, bind: as.pcValid ? `pgtt ${pe.pgtt(as.pcEntry)} fsptptr 0x${pe.fsptptr(as.pcEntry).toString(16)}` : 'detach' });
  try {
    if (as.pcValid) attach(s, as);
    else detach(s, as);
    return null;
  } catch (e) {
    return `${prefix}${(e as Error).message}`;
  }
}

/**
 * vtd_flush_host_piotlb_all_locked: a guest PASID-based IOTLB invalidation for (DID, PASID 0) becomes
 * IOMMU_HWPT_INVALIDATE on each bound first-stage HWPT of that DID. npages -1 = all in the PASID.
 */
export function flushHostPiotlb(s: VtdState, did: number, pasid: number, pfn: number, npages: number, ih: boolean): void {
  if (pasid !== PASID_0) return;
  for (const as of s.spaces) {
    if (as.hiod.kind !== 'iommufd' || !as.pcValid || pe.pgtt(as.pcEntry) !== PASID_ENTRY_PGTT_FL_ONLY) continue;
    if (pe.did(as.pcEntry) !== did || !as.fsHwptId) continue;
    const data = vtdS1Invalidate(pfn, npages, ih);
    try {
      as.dev.vfio.backend.invalidate(as.fsHwptId, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, data.length, data);
    } catch (e) {
      // "Something wrong in kernel, but trying to continue".
      s.errors.push(`IOMMU_HWPT_INVALIDATE failed: ${(e as Error).message}`);
    }
  }
}
