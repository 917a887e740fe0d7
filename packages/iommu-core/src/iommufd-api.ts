// include/linux/iommufd.h: what other kernel code (VFIO) may call on iommufd, registered per host at install.
import { ErrnoError, type Host, type OpenFile } from '@iommu-lab/platform';
import type { IommuDevice } from './device.js';

const KEY = Symbol('iommufd-kernel-api');

/** struct iommufd_ctx, opaque outside iommufd. */
export interface IommufdCtxRef {
  readonly file: OpenFile;
}

/** struct iommufd_device, opaque outside iommufd except for its object ID. */
export interface IommufdDeviceRef {
  readonly id: number;
}

export interface IommufdKernelApi {
  /** iommufd_ctx_from_file + iommufd_ctx_get: EBADFD unless the file is a /dev/iommu. */
  ctxFromFile(file: OpenFile): IommufdCtxRef;
  /** iommufd_ctx_put */
  ctxPut(ctx: IommufdCtxRef): void;
  /** iommufd_device_bind: claims DMA ownership of the device's group for the context. */
  deviceBind(ctx: IommufdCtxRef, dev: IommuDevice): IommufdDeviceRef;
  /** iommufd_device_unbind: the device must be detached from everything first. */
  deviceUnbind(idev: IommufdDeviceRef): void;
  /** iommufd_device_attach: returns the pt_id actually attached (an auto HWPT for an IOAS). */
  deviceAttach(idev: IommufdDeviceRef, pasid: number, ptId: number): number;
  /** iommufd_device_replace */
  deviceReplace(idev: IommufdDeviceRef, pasid: number, ptId: number): number;
  /** iommufd_device_detach */
  deviceDetach(idev: IommufdDeviceRef, pasid: number): void;
}

/** Called by iommufd when it is installed on a host. */
export function registerIommufdKernelApi(host: Host, api: IommufdKernelApi): void {
  host.ext.set(KEY, api);
}

/** The iommufd of a host; without one no file can be an iommufd (EBADFD). */
export function iommufdKernelApi(host: Host): IommufdKernelApi {
  const api = host.ext.get(KEY) as IommufdKernelApi | undefined;
  if (!api) throw new ErrnoError('EBADFD', 'ioctl', 'iommufd is not installed on this host');
  return api;
}
