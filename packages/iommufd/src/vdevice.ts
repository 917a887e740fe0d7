// IOMMU_VDEVICE_ALLOC: a device's virtual ID (vSID, vRID) on a vIOMMU (viommu.c).
import type { iommu_vdevice_alloc } from '@iommu-lab/iommu-core';
import { ErrnoError, type StructType } from '@iommu-lab/platform';
import { getDevice, type IommufdDevice } from './device.js';
import { IommufdObject } from './object.js';
import { ULONG_MAX } from './iopt/ranges.js';
import type { Ucmd } from './ucmd.js';
import { getViommu, type IommufdViommu } from './viommu.js';

export class IommufdVdevice extends IommufdObject {
  readonly type = 'VDEVICE';
  /** Set once vdevice_init accepted it; destroy then calls the driver's vdevice destroy. */
  private initialized = false;

  constructor(
    readonly viommu: IommufdViommu,
    /** Holds a users reference on the device until destroyed (revoked by the device's pre_destroy). */
    readonly idev: IommufdDevice,
    readonly virtId: bigint,
  ) {
    super();
  }

  get obj(): IommufdObject {
    return this;
  }

  /** viommu->ops->vdevice_init, then the slot becomes visible to the driver's lookups. */
  init(): void {
    this.viommu.viommu.vdeviceInit?.(this.idev.dev, this.virtId);
    this.initialized = true;
    this.viommu.vdevs.set(this.virtId, this);
  }

  destroy(): void {
    if (this.initialized) this.viommu.viommu.vdeviceDestroy?.(this.idev.dev, this.virtId);
    if (this.viommu.vdevs.get(this.virtId) === this || this.viommu.vdevs.get(this.virtId) === null) this.viommu.vdevs.delete(this.virtId);
    this.viommu.put();
    this.idev.vdev = null;
    this.idev.put();
  }
}

export function ioctlVdeviceAlloc(ucmd: Ucmd<StructType<typeof iommu_vdevice_alloc>>): void {
  const cmd = ucmd.cmd;
  const ctx = ucmd.ctx;
  if (cmd.virt_id > ULONG_MAX) throw new ErrnoError('EINVAL', 'ioctl', 'virt_id does not fit an xarray index');
  const viommu = getViommu(ctx, cmd.viommu_id);
  const idev = getDevice(ctx, cmd.dev_id);
  if (idev.dev.unit !== viommu.viommu.unit) throw new ErrnoError('EINVAL', 'ioctl', 'device is behind another IOMMU than the vIOMMU');
  if (idev.destroying) throw new ErrnoError('ENOENT', 'ioctl', `device ${cmd.dev_id} is being unbound`);
  if (idev.vdev) throw new ErrnoError('EEXIST', 'ioctl', `device ${cmd.dev_id} already has a vDEVICE`);
  const vdev = new IommufdVdevice(viommu, idev, cmd.virt_id);
  ctx.allocId(vdev);
  viommu.get();
  idev.get();
  idev.vdev = vdev;
  ucmd.newObj = vdev;
  if (viommu.vdevs.has(cmd.virt_id)) throw new ErrnoError('EEXIST', 'ioctl', `virt_id 0x${cmd.virt_id.toString(16)} is taken`);
  viommu.vdevs.set(cmd.virt_id, null);
  vdev.init();
  cmd.out_vdevice_id = vdev.id;
  ucmd.respond();
}
