// vfio-pci's vfio_device_ops: the physical iommufd ops and VFIO_DEVICE_GET_INFO (drivers/vfio/pci/vfio_pci*.c).
import { VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET, VFIO_DEVICE_GET_INFO, vfio_device_info } from '@iommu-lab/iommu-core';
import { ErrnoError, type IoctlArg, type Process, userArg } from '@iommu-lab/platform';
import { physicalAttachIoas, physicalBind, physicalDetachIoas, physicalPasidAttachIoas, physicalPasidDetachIoas, physicalUnbind } from './iommufd-physical.js';
import type { VfioDevice, VfioDeviceOps } from './vfio-device.js';

/** VFIO_PCI_NUM_REGIONS: BAR0-5, ROM, config space, VGA. */
export const VFIO_PCI_NUM_REGIONS = 9;
/** VFIO_PCI_NUM_IRQS: INTx, MSI, MSI-X, ERR, REQ. */
export const VFIO_PCI_NUM_IRQS = 5;

/** vfio_pci_ioctl_get_info: no device-specific regions and no capabilities in this model. */
function getInfo(arg: IoctlArg, proc: Process): number {
  const user = userArg(arg, proc, vfio_device_info, 'argsz');
  const minsz = 16; // offsetofend(struct vfio_device_info, num_irqs)
  const buf = new Uint8Array(vfio_device_info.size);
  buf.set(user.read(0, minsz));
  const info = vfio_device_info.decode(buf);
  if (info.argsz < minsz) throw new ErrnoError('EINVAL', 'ioctl', `argsz ${info.argsz} < ${minsz}`);
  info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
  info.num_regions = VFIO_PCI_NUM_REGIONS;
  info.num_irqs = VFIO_PCI_NUM_IRQS;
  info.cap_offset = 0;
  info.pad = 0;
  user.write(0, vfio_device_info.encode(info).subarray(0, Math.min(info.argsz, vfio_device_info.size)));
  return 0;
}

export const vfioPciOps: VfioDeviceOps = {
  name: 'vfio-pci',
  // vfio_pci_core_match_token_uuid for a device that is neither a PF with VFs nor a VF.
  matchTokenUuid(vdev: VfioDevice, uuid: Uint8Array | null): void {
    if (uuid) throw new ErrnoError('EINVAL', 'ioctl', `${vdev.pci.bdf}: a VF token was given but the device is not a PF or VF`);
  },
  bindIommufd: physicalBind,
  unbindIommufd: physicalUnbind,
  attachIoas: physicalAttachIoas,
  detachIoas: physicalDetachIoas,
  pasidAttachIoas: physicalPasidAttachIoas,
  pasidDetachIoas: physicalPasidDetachIoas,
  ioctl(_vdev, request, arg, proc): number {
    if (request === VFIO_DEVICE_GET_INFO) return getInfo(arg, proc);
    throw new ErrnoError('ENOTTY', 'ioctl', `vfio-pci: request 0x${request.toString(16)}`);
  },
};
