// Test doubles: a blocked-only IOMMU unit and an in-kernel iommufd API that records VFIO's calls.
import {
  type IommuDevice,
  type IommuDomain,
  type IommufdCtxRef,
  type IommufdDeviceRef,
  type IommufdKernelApi,
  type IommuOps,
  iommuSubsystem,
  registerIommufdKernelApi,
} from '@iommu-lab/iommu-core';
import { type DmaFaultInfo, ErrnoError, type FileOps, Host, OpenFile } from '@iommu-lab/platform';

export function fakeHost(bdfs = ['0000:01:00.0', '0000:02:00.0']): Host {
  const host = new Host({ memory: 64 * 1024 * 1024, devices: bdfs.map((bdf) => ({ bdf, iommu: 'fake0', pasidBits: 20 })) });
  const ops: IommuOps = { name: 'fake', probeDevice: () => {}, blockedDomain: null as unknown as IommuDomain };
  (ops as { blockedDomain: IommuDomain }).blockedDomain = { type: 'blocked', owner: ops, pgsizes: [], geometry: { apertureStart: 0n, apertureEnd: 0n, forceAperture: true }, attachDev: () => {}, free: () => {} } as unknown as IommuDomain;
  const fault: DmaFaultInfo = { reason: 1, reasonName: 'blocked', address: 0n, pasid: -1, access: 0 };
  iommuSubsystem(host).bringUp({ id: 'fake0', model: 'fake', ops, hw: { translate: () => -1, lastFault: () => fault }, describe: () => ({}) });
  return host;
}

export const fakeIommufdFops: FileOps = { name: 'fake-iommufd' };

/** Records calls; pt_ids >= 1000 are refused with ENOENT, and an IOAS (pt_id < 100) attaches as pt_id + 100. */
export class FakeIommufd implements IommufdKernelApi {
  readonly log: string[] = [];
  private nextId = 1;
  refs = 0;

  constructor(host: Host) {
    registerIommufdKernelApi(host, this);
  }

  open(): OpenFile {
    return new OpenFile(fakeIommufdFops, null, '/dev/iommu');
  }

  ctxFromFile(file: OpenFile): IommufdCtxRef {
    if (file.ops !== fakeIommufdFops) throw new ErrnoError('EBADFD', 'ioctl', 'not an iommufd');
    file.get();
    this.refs++;
    return { file };
  }
  ctxPut(ctx: IommufdCtxRef): void {
    this.refs--;
    ctx.file.put();
  }
  deviceBind(_ctx: IommufdCtxRef, dev: IommuDevice): IommufdDeviceRef {
    const id = this.nextId++;
    this.log.push(`bind ${dev.name} -> ${id}`);
    return { id };
  }
  deviceUnbind(idev: IommufdDeviceRef): void {
    this.log.push(`unbind ${idev.id}`);
  }
  deviceAttach(idev: IommufdDeviceRef, pasid: number, ptId: number): number {
    return this.attachLike('attach', idev, pasid, ptId);
  }
  deviceReplace(idev: IommufdDeviceRef, pasid: number, ptId: number): number {
    return this.attachLike('replace', idev, pasid, ptId);
  }
  deviceDetach(idev: IommufdDeviceRef, pasid: number): void {
    this.log.push(`detach ${idev.id} pasid ${pasid}`);
  }
  private attachLike(what: string, idev: IommufdDeviceRef, pasid: number, ptId: number): number {
    if (ptId >= 1000) throw new ErrnoError('ENOENT', 'ioctl', `no object ${ptId}`);
    this.log.push(`${what} ${idev.id} pasid ${pasid} pt ${ptId}`);
    return ptId < 100 ? ptId + 100 : ptId;
  }
}
