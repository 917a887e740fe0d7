// vfio_register_group_dev for vfio-pci: each PCI device behind an IOMMU gets /dev/vfio/devices/vfioN.
import { iommuSubsystem } from '@iommu-lab/iommu-core';
import { ErrnoError, type Host, type PciDevice } from '@iommu-lab/platform';
import { openDeviceFile } from './device-file.js';
import { VfioDevice } from './vfio-device.js';
import { vfioPciOps } from './vfio-pci.js';

const KEY = Symbol('vfio');

export class VfioSubsystem {
  readonly devices: VfioDevice[] = [];

  constructor(readonly host: Host) {}

  /** Binds a probed PCI device to vfio-pci and creates its cdev with the next free minor. */
  registerPci(pci: PciDevice): VfioDevice {
    if (this.devices.some((d) => d.pci === pci)) throw new RangeError(`${pci.bdf} is already a VFIO device`);
    const dev = iommuSubsystem(this.host).findDevice(pci.bdf);
    // vfio-pci refuses devices without an IOMMU group (no no-IOMMU mode here).
    if (!dev) throw new ErrnoError('EINVAL', 'vfio', `${pci.bdf} is not behind an IOMMU`);
    let index = 0;
    while (this.devices.some((d) => d.index === index)) index++;
    const vdev = new VfioDevice(this.host, index, pci, dev, vfioPciOps);
    this.devices.push(vdev);
    this.host.vfs.register(vdev.cdevPath, (_proc, flags) => openDeviceFile(vdev, flags));
    pci.cdevPath = vdev.cdevPath;
    return vdev;
  }

  /** The VFIO device of a BDF. */
  device(bdf: string): VfioDevice {
    const d = this.devices.find((v) => v.pci.bdf === bdf.toLowerCase());
    if (!d) throw new ErrnoError('ENODEV', 'vfio', `${bdf} is not a VFIO device`);
    return d;
  }
}

export function vfioSubsystem(host: Host): VfioSubsystem {
  let s = host.ext.get(KEY) as VfioSubsystem | undefined;
  if (!s) host.ext.set(KEY, (s = new VfioSubsystem(host)));
  return s;
}

/** Registers every PCI device that is behind an IOMMU and not yet a VFIO device, in the host's (spec) order. */
export function installVfio(host: Host): VfioSubsystem {
  const s = vfioSubsystem(host);
  const sub = iommuSubsystem(host);
  for (const pci of host.devices) if (sub.findDevice(pci.bdf) && !s.devices.some((d) => d.pci === pci)) s.registerPci(pci);
  return s;
}
