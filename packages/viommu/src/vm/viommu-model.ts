// The vIOMMU devices a VM can have (intel-iommu, arm-smmuv3), registered by name like qdev types.
import type { QemuDriverOpts } from '../qemu/options.js';
import type { VfioPciDevice } from '../vfio/vfio-pci.js';
import type { Vm } from './vm.js';

/** An emulated IOMMU as the VMM sees it (QEMU's PCIIOMMUOps plus its realize). */
export interface VirtualIommu {
  readonly name: string;
  /** get_viommu_flags: VIOMMU_FLAG_WANT_NESTING_PARENT, so VFIO allocates its default HWPT as a nest parent. */
  readonly wantNestingParent: boolean;
  /**
   * set_iommu_device: the HostIOMMUDevice compatibility check, then the vIOMMU takes the device.
   * A refusal throws a QemuOptionError saying which capability is missing on which side.
   */
  setIommuDevice(dev: VfioPciDevice): void;
  /** A device's address space was set up (its container and default HWPT exist). */
  deviceReady?(dev: VfioPciDevice): void;
}

export type VirtualIommuFactory = (vm: Vm, opts: QemuDriverOpts) => VirtualIommu;

const models = new Map<string, VirtualIommuFactory>();

export function registerVirtualIommu(driver: string, factory: VirtualIommuFactory): void {
  models.set(driver, factory);
}

export function virtualIommuFactory(driver: string): VirtualIommuFactory | undefined {
  return models.get(driver);
}
