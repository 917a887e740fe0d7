// VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH/DETACH_IOMMUFD_PT on a device cdev (drivers/vfio/device_cdev.c).
import {
  iommufdKernelApi,
  VFIO_DEVICE_ATTACH_PASID,
  vfio_device_attach_iommufd_pt,
  VFIO_DEVICE_BIND_FLAG_TOKEN,
  vfio_device_bind_iommufd,
  VFIO_DEVICE_DETACH_PASID,
  vfio_device_detach_iommufd_pt,
} from '@iommu-lab/iommu-core';
import { copyStructFromUser, ErrnoError, type IoctlArg, type Process, type StructCodec, userArg, userPointer } from '@iommu-lab/platform';
import type { VfioDeviceFile } from './device-file.js';
import type { VfioDevice } from './vfio-device.js';

const UUID_SIZE = 16;

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** vfio_df_open: the cdev path opens a device once; the first open binds it to the file's iommufd. */
function dfOpen(df: VfioDeviceFile): void {
  const vdev = df.device;
  if (vdev.openCount !== 0) throw new ErrnoError('EINVAL', 'ioctl', `${vdev.cdevPath} is already bound through another file`);
  const devid = vdev.ops.bindIommufd(vdev, df.iommufd!);
  try {
    vdev.ops.openDevice?.(vdev);
  } catch (e) {
    vdev.ops.unbindIommufd?.(vdev);
    throw e;
  }
  df.devid = devid;
  vdev.openCount = 1;
}

/** vfio_df_close */
export function dfClose(df: VfioDeviceFile): void {
  const vdev = df.device;
  if (vdev.openCount !== 1) return;
  vdev.ops.closeDevice?.(vdev);
  vdev.ops.unbindIommufd?.(vdev);
  vdev.openCount = 0;
}

function checkToken(vdev: VfioDevice, flags: number, tokenPtr: bigint, proc: Process): void {
  if (!vdev.ops.matchTokenUuid) {
    if (flags & VFIO_DEVICE_BIND_FLAG_TOKEN) throw new ErrnoError('EINVAL', 'ioctl', 'the driver takes no VF token');
    return;
  }
  const uuid = flags & VFIO_DEVICE_BIND_FLAG_TOKEN ? userPointer(proc, tokenPtr).read(0, UUID_SIZE) : null;
  vdev.ops.matchTokenUuid(vdev, uuid);
}

/** vfio_df_ioctl_bind_iommufd */
export function ioctlBindIommufd(df: VfioDeviceFile, arg: IoctlArg, proc: Process): number {
  const user = userArg(arg, proc, vfio_device_bind_iommufd, 'argsz');
  const minsz = 16; // offsetofend(struct vfio_device_bind_iommufd, out_devid)
  const usize = user.readU32(0);
  if (usize < minsz) throw new ErrnoError('EINVAL', 'ioctl', `argsz ${usize} < ${minsz}`);
  const bind = vfio_device_bind_iommufd.decode(copyStructFromUser(user, vfio_device_bind_iommufd.size, usize));
  if (bind.iommufd < 0 || bind.flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) throw new ErrnoError('EINVAL', 'ioctl', 'iommufd or flags');
  const vdev = df.device;
  if (df.accessGranted) throw new ErrnoError('EINVAL', 'ioctl', 'this file is already bound');
  checkToken(vdev, bind.flags, bind.token_uuid_ptr, proc);
  // iommufd_ctx_from_fd: EBADF for a closed descriptor, EBADFD for a file that is not an iommufd.
  const file = proc.file(bind.iommufd);
  df.iommufd = iommufdKernelApi(vdev.host).ctxFromFile(file);
  try {
    dfOpen(df);
    try {
      user.write(12, u32(df.devid));
    } catch (e) {
      dfClose(df);
      throw e;
    }
  } catch (e) {
    iommufdKernelApi(vdev.host).ctxPut(df.iommufd);
    df.iommufd = null;
    throw e;
  }
  vdev.cdevOpened = true;
  vdev.ictx = df.iommufd;
  df.accessGranted = true;
  return 0;
}

/** vfio_df_unbind_iommufd: on close of a bound file. */
export function unbindIommufd(df: VfioDeviceFile): void {
  if (!df.accessGranted) return;
  const vdev = df.device;
  dfClose(df);
  iommufdKernelApi(vdev.host).ctxPut(df.iommufd!);
  df.iommufd = null;
  vdev.ictx = null;
  vdev.cdevOpened = false;
  df.accessGranted = false;
}

/** Reads the fixed part, then the PASID extension when the flag asks for it (argsz must cover it). */
function readWithPasid<T extends { argsz: number; flags: number }>(
  codec: StructCodec<T>,
  arg: IoctlArg,
  proc: Process,
  minsz: number,
  pasidFlag: number,
  hasPasidOp: boolean,
): { cmd: T; user: ReturnType<typeof userArg> } {
  const user = userArg(arg, proc, codec, 'argsz');
  const buf = new Uint8Array(codec.size);
  buf.set(user.read(0, minsz));
  const cmd = codec.decode(buf);
  if (cmd.argsz < minsz) throw new ErrnoError('EINVAL', 'ioctl', `argsz ${cmd.argsz} < ${minsz}`);
  if (cmd.flags & ~pasidFlag) throw new ErrnoError('EINVAL', 'ioctl', `flags 0x${cmd.flags.toString(16)}`);
  if (cmd.flags & pasidFlag) {
    if (!hasPasidOp) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'the driver cannot attach PASIDs');
    const xend = minsz + 4;
    if (cmd.argsz < xend) throw new ErrnoError('EINVAL', 'ioctl', `argsz ${cmd.argsz} does not cover pasid`);
    buf.set(user.read(minsz, xend - minsz), minsz);
    return { cmd: codec.decode(buf), user };
  }
  return { cmd, user };
}

/** vfio_df_ioctl_attach_pt: writes back the pt_id actually attached (an auto HWPT for an IOAS). */
export function ioctlAttachPt(df: VfioDeviceFile, arg: IoctlArg, proc: Process): number {
  const vdev = df.device;
  const { cmd, user } = readWithPasid(vfio_device_attach_iommufd_pt, arg, proc, 12, VFIO_DEVICE_ATTACH_PASID, !!vdev.ops.pasidAttachIoas);
  const pasid = cmd.flags & VFIO_DEVICE_ATTACH_PASID;
  const ptId = pasid ? vdev.ops.pasidAttachIoas!(vdev, cmd.pasid, cmd.pt_id) : vdev.ops.attachIoas(vdev, cmd.pt_id);
  try {
    user.write(8, u32(ptId));
  } catch (e) {
    vdev.ops.detachIoas(vdev);
    throw e;
  }
  return 0;
}

/** vfio_df_ioctl_detach_pt */
export function ioctlDetachPt(df: VfioDeviceFile, arg: IoctlArg, proc: Process): number {
  const vdev = df.device;
  const { cmd } = readWithPasid(vfio_device_detach_iommufd_pt, arg, proc, 8, VFIO_DEVICE_DETACH_PASID, !!vdev.ops.pasidDetachIoas);
  if (cmd.flags & VFIO_DEVICE_DETACH_PASID) vdev.ops.pasidDetachIoas!(vdev, cmd.pasid);
  else vdev.ops.detachIoas(vdev);
  return 0;
}
