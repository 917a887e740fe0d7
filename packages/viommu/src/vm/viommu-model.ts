// The vIOMMU devices a VM can have (intel-iommu, arm-smmuv3), registered by name like qdev types.
import type { HostHwInfo } from '../backends/iommufd.js';
import type { QemuDriverOpts } from '../qemu/options.js';
import type { Vm, VmDevice } from './vm.js';

/**
 * HostIOMMUDevice: what VFIO tells a vIOMMU about the host IOMMU behind an assigned device.
 * `legacy` is a device on a VFIO container without iommufd (this model only names it, to refuse it).
 */
export interface HostIommuDevice {
  readonly name: string;
  readonly kind: 'iommufd' | 'legacy';
  /** The device in the VM (container, default HWPT); null for a legacy device. */
  readonly dev: VmDevice | null;
  /** HOST_IOMMU_DEVICE_CAP_AW_BITS: last bit of the usable IOVA ranges + 1 (vfio_device_get_aw_bits). */
  readonly awBits: number;
  /** GET_HW_INFO: type, vendor data (iommu_hw_info_vtd / _arm_smmuv3), capabilities. */
  readonly caps: HostHwInfo | null;
  /** The guest's requester ID of the device. */
  readonly guestRid: number;
  /** True when the device sits behind a PCI bridge in the guest topology. */
  readonly behindBridge: boolean;
}

/** An emulated IOMMU as the VMM sees it (QEMU's PCIIOMMUOps plus its realize). */
export interface VirtualIommu {
  readonly name: string;
  /** get_viommu_flags: VIOMMU_FLAG_WANT_NESTING_PARENT, so VFIO allocates its default HWPT as a nest parent. */
  readonly wantNestingParent: boolean;
  /**
   * get_host_iommu_quirks: what the host's GET_HW_INFO obliges VFIO to do, asked before it maps guest
   * memory. HOST_IOMMU_QUIRK_NESTING_PARENT_BYPASS_RO: read-only memory stays out of the nest parent.
   */
  hostIommuQuirks?(caps: HostHwInfo): { nestingParentBypassRo: boolean };
  /**
   * set_iommu_device: the HostIOMMUDevice compatibility check, then the vIOMMU takes the device.
   * A refusal throws an Error whose message says which capability is missing on which side.
   */
  setIommuDevice(hiod: HostIommuDevice): void;
  /** unrealize: the VM is shutting down; give back what the vIOMMU holds on the host. */
  unrealize?(): void;
}

export type VirtualIommuFactory = (vm: Vm, opts: QemuDriverOpts) => VirtualIommu;

const models = new Map<string, VirtualIommuFactory>();

export function registerVirtualIommu(driver: string, factory: VirtualIommuFactory): void {
  models.set(driver, factory);
}

export function virtualIommuFactory(driver: string): VirtualIommuFactory | undefined {
  return models.get(driver);
}
