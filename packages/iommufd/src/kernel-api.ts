// The in-kernel iommufd API VFIO uses (include/linux/iommufd.h), backed by the context and device objects.
import type { IommuDevice, IommufdCtxRef, IommufdDeviceRef, IommufdKernelApi } from '@iommu-lab/iommu-core';
import type { OpenFile } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import { deviceAttach, deviceBind, deviceDetach, deviceReplace, deviceUnbind, type IommufdDevice } from './device.js';

class CtxRef implements IommufdCtxRef {
  constructor(
    readonly file: OpenFile,
    readonly ctx: IommufdCtx,
  ) {}
}

export function iommufdKernelApiFor(ctxFromFile: (file: OpenFile) => IommufdCtx): IommufdKernelApi {
  return {
    ctxFromFile(file: OpenFile): IommufdCtxRef {
      const ctx = ctxFromFile(file);
      file.get();
      return new CtxRef(file, ctx);
    },
    ctxPut(ref: IommufdCtxRef): void {
      ref.file.put();
    },
    deviceBind(ref: IommufdCtxRef, dev: IommuDevice): IommufdDeviceRef {
      return deviceBind((ref as CtxRef).ctx, dev);
    },
    deviceUnbind: (idev) => deviceUnbind(idev as IommufdDevice),
    deviceAttach: (idev, pasid, ptId) => deviceAttach(idev as IommufdDevice, pasid, ptId),
    deviceReplace: (idev, pasid, ptId) => deviceReplace(idev as IommufdDevice, pasid, ptId),
    deviceDetach: (idev, pasid) => deviceDetach(idev as IommufdDevice, pasid),
  };
}
