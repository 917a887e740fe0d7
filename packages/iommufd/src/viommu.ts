// IOMMU_VIOMMU_ALLOC: a vIOMMU object over a nest-parent HWPT, and the core services it gets (viommu.c, driver.c).
import { type IommuDevice, type iommu_viommu_alloc, IOMMU_VIOMMU_TYPE_DEFAULT, type IommuUserData, type IommuViommu, type ViommuCore } from '@iommu-lab/iommu-core';
import { ErrnoError, type StructType } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import { getDevice } from './device.js';
import type { IommufdHwptPaging } from './hw-pagetable.js';
import type { ViommuObject } from './hwpt-ioctl.js';
import { allocMmap, destroyMmap } from './mmap.js';
import { IommufdObject } from './object.js';
import type { Ucmd } from './ucmd.js';
import type { IommufdVdevice } from './vdevice.js';
import type { IommufdVeventq } from './veventq.js';

export class IommufdViommu extends IommufdObject implements ViommuObject {
  readonly type = 'VIOMMU';
  viommu!: IommuViommu;
  /** viommu->vdevs: virt_id to vDEVICE; null marks a slot reserved while vdevice_init runs. */
  readonly vdevs = new Map<bigint, IommufdVdevice | null>();
  /** viommu->veventqs, at most one per type. */
  readonly veventqs: IommufdVeventq[] = [];

  constructor(
    readonly ctx: IommufdCtx,
    readonly hwpt: IommufdHwptPaging,
  ) {
    super();
  }

  findVeventq(type: number): IommufdVeventq | undefined {
    return this.veventqs.find((q) => q.veventqType === type);
  }

  /** The ViommuCore handed to the driver: every call resolves through this object. */
  core(): ViommuCore {
    return {
      reportEvent: (type, data) => {
        if (!data.length) throw new ErrnoError('EINVAL', 'ioctl', 'empty vEVENT');
        const q = this.findVeventq(type);
        if (!q) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `no vEVENTQ of type ${type}`);
        q.report(data);
      },
      findDevice: (virtId) => this.vdevs.get(virtId)?.idev.dev ?? null,
      virtIdOf: (dev: IommuDevice) => {
        for (const v of this.vdevs.values()) if (v && v.idev.dev === dev) return v.virtId;
        return null;
      },
      allocMmap: (pfns) => allocMmap(this.ctx, this, pfns),
      destroyMmap: (offset) => destroyMmap(this.ctx, offset),
    };
  }

  destroy(): void {
    this.viommu?.destroy?.();
    this.hwpt.put();
  }
}

/** Copies the driver's output data back over the caller's data buffer, zero-filling a longer buffer. */
function writeOutData(userData: IommuUserData, out: Uint8Array): void {
  const buf = new Uint8Array(userData.len);
  buf.set(out.subarray(0, Math.min(out.length, userData.len)));
  userData.proc.memWrite(userData.uptr, buf);
}

export function ioctlViommuAlloc(ucmd: Ucmd<StructType<typeof iommu_viommu_alloc>>): void {
  const cmd = ucmd.cmd;
  const ctx = ucmd.ctx;
  if (cmd.flags || cmd.type === IOMMU_VIOMMU_TYPE_DEFAULT) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags or the default vIOMMU type');
  const userData: IommuUserData = { type: cmd.type, uptr: cmd.data_uptr, len: cmd.data_len, proc: ucmd.proc };
  const idev = getDevice(ctx, cmd.dev_id);
  const ops = idev.dev.unit.ops;
  if (!ops.viommuAlloc) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `${idev.dev.unit.id} has no vIOMMU support`);
  if (ops.viommuSupported && !ops.viommuSupported(idev.dev, cmd.type)) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `vIOMMU type ${cmd.type} on ${idev.dev.unit.id}`);
  const hwpt = ctx.getObject<IommufdHwptPaging>(cmd.hwpt_id, 'HWPT_PAGING');
  if (!hwpt.nestParent) throw new ErrnoError('EINVAL', 'ioctl', `HWPT ${cmd.hwpt_id} is not a nest parent`);
  const v = new IommufdViommu(ctx, hwpt);
  ctx.allocId(v);
  ucmd.newObj = v;
  hwpt.get();
  v.viommu = ops.viommuAlloc(idev.dev, hwpt.domain, cmd.type, userData.len ? userData : null, v.core());
  if (v.viommu.outData && userData.len) writeOutData(userData, v.viommu.outData);
  cmd.out_viommu_id = v.id;
  ucmd.respond();
}

export function getViommu(ctx: IommufdCtx, id: number): IommufdViommu {
  return ctx.getObject<IommufdViommu>(id, 'VIOMMU');
}
