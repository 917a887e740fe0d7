// vtd_check_hiod + vtd_check_hiod_accel: may this host device sit behind the emulated intel-iommu?
// Messages are QEMU's, followed by the same fact in plain words (which capability, which side).
import { IOMMU_HW_INFO_TYPE_INTEL_VTD, iommu_hw_info_vtd } from '@iommu-lab/iommu-core';
import type { HostHwInfo } from '../backends/iommufd.js';
import type { HostIommuDevice } from '../vm/viommu-model.js';
import type { IntelIommuConfig } from './config.js';

/** CAP_REG.FS1GP (bit 56): first-stage 1 GiB pages. */
const VTD_CAP_FS1GP = 1n << 56n;

export class HiodRefusal extends Error {
  override name = 'HiodRefusal';
}

/** The host's iommu_hw_info_vtd, when GET_HW_INFO reported an Intel VT-d unit. */
export function hostVtdInfo(caps: HostHwInfo | null): { flags: number; cap: bigint; ecap: bigint } | null {
  if (!caps || caps.type !== IOMMU_HW_INFO_TYPE_INTEL_VTD || caps.data.length < iommu_hw_info_vtd.size) return null;
  const v = iommu_hw_info_vtd.decode(caps.data);
  return { flags: v.flags, cap: v.cap_reg, ecap: v.ecap_reg };
}

export function vtdCheckHiod(c: IntelIommuConfig, hiod: HostIommuDevice): void {
  if (c.awBits > hiod.awBits) {
    throw new HiodRefusal(
      `aw-bits ${c.awBits} > host aw-bits ${hiod.awBits} (the guest's intel-iommu addresses ${c.awBits} bits; the host IOMMU domain of ${hiod.name} covers only ${hiod.awBits})`,
    );
  }
  if (!c.fsts) return;
  if (hiod.kind !== 'iommufd') {
    throw new HiodRefusal('Need IOMMUFD backend when x-flts=on (nested translation needs an iommufd nesting parent; this device is on a legacy VFIO container)');
  }
  const vtd = hostVtdInfo(hiod.caps);
  if (!vtd) {
    throw new HiodRefusal(`Incompatible host platform IOMMU type ${hiod.caps?.type ?? 0} (the guest's intel-iommu needs an Intel VT-d host IOMMU to nest its first stage)`);
  }
  if (c.fs1gp && (vtd.cap & VTD_CAP_FS1GP) === 0n) {
    throw new HiodRefusal('First stage 1GB large page is unsupported by host IOMMU (the guest is offered fs1gp=on; the host CAP_REG has no FS1GP: use fs1gp=off)');
  }
  if (hiod.behindBridge) throw new HiodRefusal('Host device downstream to a PCI bridge is unsupported when x-flts=on');
}
