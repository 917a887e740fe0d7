// selftest_obj TYPE_IDEV: a mock device bound to the context and attached (IOMMU_TEST_OP_MOCK_DOMAIN).
import { IOMMU_NO_PASID, type IommuDevice, type IommuUnit, iommuSubsystem } from '@iommu-lab/iommu-core';
import { deviceAttach, deviceBind, deviceDetach, deviceUnbind, type IommufdCtx, type IommufdDevice, IommufdObject } from '@iommu-lab/iommufd';
import { ErrnoError } from '@iommu-lab/platform';
import { MockDev } from '../mock/device.js';
import type { MockIommuOps } from '../mock/ops.js';
import { MOCK_FLAGS_DEVICE_NO_DIRTY, MOCK_FLAGS_DEVICE_PASID } from '../uapi/iommufd-test.js';

export class SelftestObj extends IommufdObject {
  readonly type = 'SELFTEST';
  dev: IommuDevice | null = null;
  idev: IommufdDevice | null = null;
  constructor(readonly ctx: IommufdCtx) {
    super();
  }

  get mdev(): MockDev {
    return this.dev!.priv as MockDev;
  }

  /** iommufd_selftest_destroy: detach, unbind, unplug the mock device. */
  destroy(): void {
    if (this.idev) {
      deviceDetach(this.idev, IOMMU_NO_PASID);
      deviceUnbind(this.idev);
      this.idev = null;
    }
    if (this.dev) mockDevDestroy(this.ctx, this.dev);
    this.dev = null;
  }
}

/** mock_dev_create: a device named iommufd_mock%u on the mock bus, probed behind the mock unit. */
export function mockDevCreate(ctx: IommufdCtx, unit: IommuUnit, devFlags: number): IommuDevice {
  if (devFlags & ~(MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_PASID)) throw new ErrnoError('EINVAL', 'ioctl', `mock device flags 0x${devFlags.toString(16)}`);
  const faults = ctx.faults;
  faults.check('mock_dev_create');
  const ops = unit.ops as MockIommuOps;
  const mdev = new MockDev(ops.allocDevId(), devFlags);
  try {
    // The device's name, its pasid-num-bits software node, its fwspec, then device_add (which probes it).
    faults.check('dev_set_name');
    faults.check('device_create_managed_software_node');
    faults.check('iommu_fwspec_init');
    faults.check('device_add');
    const sub = iommuSubsystem(ctx.host);
    // Mock bus devices have no PCI requester ID; a unique stream ID per device stands in for it.
    return sub.probeDevice(mdev.name, unit, { rid: 0x10000 + mdev.id, pci: null, priv: mdev });
  } catch (e) {
    // put_device -> mock_dev_release
    ops.freeDevId(mdev.id);
    throw e;
  }
}

/** mock_dev_destroy: device_unregister, then mock_dev_release frees the name's number. */
export function mockDevDestroy(ctx: IommufdCtx, dev: IommuDevice): void {
  iommuSubsystem(ctx.host).releaseDevice(dev);
  (dev.unit.ops as MockIommuOps).freeDevId((dev.priv as MockDev).id);
}

/** iommufd_test_mock_domain: stdev, then idev, then (for an IOAS) the auto HWPT; returns [stdev, hwpt, idev]. */
export function mockDomain(ctx: IommufdCtx, unit: IommuUnit, ptId: number, devFlags: number, respond: (ids: [number, number, number]) => void): void {
  const sobj = new SelftestObj(ctx);
  ctx.allocId(sobj);
  let dev: IommuDevice | null = null;
  let idev: IommufdDevice | null = null;
  let attached = false;
  try {
    dev = mockDevCreate(ctx, unit, devFlags);
    idev = deviceBind(ctx, dev);
    const hwptId = deviceAttach(idev, IOMMU_NO_PASID, ptId);
    attached = true;
    respond([sobj.id, hwptId, idev.id]);
  } catch (e) {
    if (attached) deviceDetach(idev!, IOMMU_NO_PASID);
    if (idev) deviceUnbind(idev);
    if (dev) mockDevDestroy(ctx, dev);
    ctx.abortId(sobj);
    throw e;
  }
  sobj.dev = dev;
  sobj.idev = idev;
  ctx.finalize(sobj);
}

/** iommufd_test_get_selftest_obj */
export function getSelftestObj(ctx: IommufdCtx, id: number): SelftestObj {
  return ctx.getObject<SelftestObj>(id, 'SELFTEST');
}
