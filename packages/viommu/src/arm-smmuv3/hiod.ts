// smmuv3_accel_hw_compatible: may this host device sit behind the accelerated arm-smmuv3? QEMU's message first,
// then the same fact in plain words (which feature, which side). Checks QEMU does not make are marked as ours.
import { Idr0, Idr1, Idr3, Idr5, addrSizeBits } from '@iommu-lab/hw-smmuv3/format';
import { IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, IOMMU_HW_INFO_TYPE_ARM_SMMUV3, iommu_hw_info_arm_smmuv3 } from '@iommu-lab/iommu-core';
import type { HostIommuDevice } from '../vm/viommu-model.js';
import type { SmmuV3IdRegs } from './idr.js';

export class SmmuV3HiodRefusal extends Error {
  override name = 'SmmuV3HiodRefusal';
}

/** The host's raw IDR0..5 from iommu_hw_info_arm_smmuv3, or null when GET_HW_INFO reported another type. */
export function hostSmmuIdr(hiod: HostIommuDevice): Uint32Array | null {
  const caps = hiod.caps;
  if (!caps || caps.type !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3 || caps.data.length < iommu_hw_info_arm_smmuv3.size) return null;
  const v = iommu_hw_info_arm_smmuv3.decode(caps.data);
  return Uint32Array.from(v.idr as ArrayLike<number>);
}

function refuse(qemu: string, words: string): never {
  throw new SmmuV3HiodRefusal(`${qemu} (${words})`);
}

/** Throws a refusal unless the host SMMUv3 behind `hiod` can nest what the guest is offered in `regs`. */
export function smmuV3CheckHiod(regs: SmmuV3IdRegs, hiod: HostIommuDevice, guestRamTop: number): Uint32Array {
  if (hiod.kind !== 'iommufd') {
    refuse('vfio-pci endpoint devices without an iommufd backend not allowed when using arm-smmuv3,accel=on', 'nesting needs an iommufd vIOMMU; this device is on a legacy VFIO container');
  }
  const host = hostSmmuIdr(hiod);
  if (!host) refuse(`Wrong data type (${hiod.caps?.type ?? 0}) for Host SMMUv3 device info`, `${hiod.name} is not behind an Arm SMMUv3: its stage 1 cannot run the guest's SMMUv3 tables`);
  const h0 = Idr0.decode(host[0]!);
  const v0 = Idr0.decode(regs.idr[0]!);
  const h1 = Idr1.decode(host[1]!);
  const v1 = Idr1.decode(regs.idr[1]!);
  const hostOas = addrSizeBits(Idr5.decode(host[5]!).oas);
  const vOas = addrSizeBits(Idr5.decode(regs.idr[5]!).oas);
  // Ours: the nesting prerequisites the kernel would otherwise refuse with a bare errno.
  if (!h0.s1p) refuse('Host SMMUv3 has no stage 1', 'host IDR0.S1P = 0: the guest stage-1 tables cannot be walked by the host');
  if (!h0.s2p) refuse('Host SMMUv3 has no stage 2', 'host IDR0.S2P = 0: there is no stage 2 to be the nesting parent that maps guest RAM');
  if (!h0.cohacc) refuse('Host SMMUv3 is not coherent', 'host IDR0.COHACC = 0: the host would not see the guest tables the guest CPU writes through its caches');
  if (h0.stLevel !== v0.stLevel) {
    refuse(`Host SMMUv3 Stream Table format mismatch (host STLEVEL=${h0.stLevel}, QEMU STLEVEL=${v0.stLevel})`, 'the guest is offered 2-level stream tables');
  }
  if (h0.ttendian > v0.ttendian) refuse("Host SMMUv3 doesn't support Little-endian translation table", 'the guest writes little-endian tables; the host walks big-endian only');
  if (h0.ttf < v0.ttf) refuse("Host SMMUv3 doesn't support AArch64 translation table format", 'the guest writes AArch64 (VMSAv8-64) tables');
  if (h1.sidsize < v1.sidsize) refuse(`Host SMMUv3 SIDSIZE not compatible (host=${h1.sidsize}, QEMU=${v1.sidsize})`, 'guest StreamIDs would not fit the host');
  if (h1.ssidsize < v1.ssidsize) refuse(`Host SMMUv3 SSIDSIZE not compatible (host=${h1.ssidsize}, QEMU=${v1.ssidsize})`, `the guest is offered ${v1.ssidsize}-bit SubstreamIDs (ssidsize)`);
  if (Idr3.decode(host[3]!).ril < Idr3.decode(regs.idr[3]!).ril) refuse("Host SMMUv3 doesn't support Range Invalidation", 'host IDR3.RIL = 0 but the guest is offered range TLBIs: use ril=off');
  if (hostOas < vOas) refuse(`Host SMMUv3 supports only ${hostOas}-bit IPA, but the vSMMU OAS implies ${vOas}-bit IPA`, `guest IPAs up to ${vOas} bits would not fit the host stage 2`);
  if (h0.ats < v0.ats) refuse("Host SMMUv3 doesn't support Address Translation Services", 'the guest is offered ATS (ats=on)');
  // Ours: PRI needs the host's PRI queue and a device that sends page requests.
  if (h0.pri < v0.pri) refuse("Host SMMUv3 doesn't support Page Request Interface", 'the guest is offered PRI (pri=on) and the host has no PRI queue');
  if (v0.pri && hiod.dev && !hiod.dev.vfio.host.pri) refuse(`${hiod.name} has no PRI`, 'pri=on offers the guest page requests from a device without the PRI capability');
  // Ours: widths and the device's own capabilities.
  if (v0.asid16 && !h0.asid16) refuse('Host SMMUv3 has 8-bit ASIDs', 'the guest is offered 16-bit ASIDs (IDR0.ASID16) that the host would truncate');
  if (v0.ats && ((hiod.caps?.capabilities ?? 0n) & IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED) !== 0n) refuse(`${hiod.name} has no ATS`, 'ats=on offers the guest ATS for a device without it');
  if (!Idr5.decode(host[5]!).gran4k) refuse("Host SMMUv3 doesn't support 4K translation granule", 'the guest stage 1 uses 4 KiB pages');
  if (guestRamTop > 2 ** vOas) refuse(`guest RAM ends at 0x${guestRamTop.toString(16)}`, `above the ${vOas}-bit output size (oas) the guest's stage 1 may point to`);
  if (hiod.awBits < vOas) refuse(`Host IOVA space is ${hiod.awBits} bits`, `the nest parent of ${hiod.name} translates fewer than the ${vOas} IPA bits offered to the guest`);
  return host;
}
