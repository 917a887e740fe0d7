// What the kernel's VFIO selftests get from their command line: a process and a device cdev to drive.
import { iommuSubsystem } from '@iommu-lab/iommu-core';
import { installIommufd } from '@iommu-lab/iommufd';
import { Host, type Process } from '@iommu-lab/platform';
import { installVfio } from '@iommu-lab/vfio';
import { createMockUnit } from '../mock/ops.js';

export interface VfioTarget {
  readonly host: Host;
  readonly proc: Process;
  readonly bdf: string;
  /** vfio_pci_get_cdev_path(bdf) */
  readonly cdevPath: string;
}

/** A host with one PCI device behind the mock IOMMU, iommufd and VFIO installed. */
export function mockVfioTarget(): VfioTarget {
  const bdf = '0000:01:00.0';
  const host = new Host({ memory: 256 * 1024 * 1024, devices: [{ bdf, iommu: 'mock0', pasidBits: 20 }] });
  iommuSubsystem(host).bringUp(createMockUnit(host, 'mock0'));
  installIommufd(host);
  installVfio(host);
  return { host, proc: host.spawnProcess(), bdf, cdevPath: host.device(bdf).cdevPath! };
}
