// hw/vfio/iommufd.c + pci.c: a host PCI device passed through to the guest, bound to the VM's iommufd.
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_PASID,
} from '@iommu-lab/iommu-core';
import type { PciDevice, Process, Tracepoint } from '@iommu-lab/platform';
import { DsaEngine } from '@iommu-lab/vfio';
import type { HostHwInfo, IommufdBackend } from '../backends/iommufd.js';
import { HostFd } from '../vm/host-fd.js';
import type { VmStats } from '../vm/stats.js';

export class VfioPciDevice {
  readonly fd: HostFd;
  /** The iommufd device ID (iommufd_cdev_connect_and_bind). */
  readonly devId: number;
  /** The page table the RID is attached to, or null. */
  attachedPt: number | null = null;
  readonly pasids = new Map<number, number>();
  /** What GET_HW_INFO reported: the HostIOMMUDevice's capabilities. */
  readonly hwInfo: HostHwInfo;
  /** The device's DMA engine, reached through its BAR as the guest driver would. */
  readonly engine: DsaEngine;

  constructor(
    readonly id: string,
    /** The host device (what host=BDF names, and sysfs gives its cdev path). */
    readonly host: PciDevice,
    /** The guest's requester ID for the device (bus << 8 | devfn on the guest's PCI topology). */
    readonly guestRid: number,
    readonly backend: IommufdBackend,
    proc: Process,
    stats: () => VmStats,
    tp: Tracepoint,
  ) {
    if (!host.cdevPath) throw new RangeError(`${host.bdf} is not bound to vfio-pci`);
    this.fd = new HostFd(proc, proc.open(host.cdevPath), stats, tp);
    const bind = { argsz: 24, flags: 0, iommufd: backend.fd.fd, out_devid: 0 };
    this.fd.ioctl(VFIO_DEVICE_BIND_IOMMUFD, bind);
    this.devId = bind.out_devid;
    this.hwInfo = backend.getHwInfo(this.devId);
    this.engine = new DsaEngine(host);
  }

  /** Attaches (or replaces) the RID; returns the pt_id actually attached. */
  attach(ptId: number): number {
    const cmd = { argsz: 12, flags: 0, pt_id: ptId };
    this.fd.ioctl(VFIO_DEVICE_ATTACH_IOMMUFD_PT, cmd);
    this.attachedPt = cmd.pt_id;
    return cmd.pt_id;
  }

  detach(): void {
    this.fd.ioctl(VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 8, flags: 0 });
    this.attachedPt = null;
  }

  attachPasid(pasid: number, ptId: number): void {
    this.fd.ioctl(VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pt_id: ptId, pasid });
    this.pasids.set(pasid, ptId);
  }

  detachPasid(pasid: number): void {
    this.fd.ioctl(VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 12, flags: VFIO_DEVICE_DETACH_PASID, pasid });
    this.pasids.delete(pasid);
  }

  close(): void {
    this.fd.close();
  }
}
