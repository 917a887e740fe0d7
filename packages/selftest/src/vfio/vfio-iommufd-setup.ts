// tools/testing/selftests/vfio/vfio_iommufd_setup_test.c: bind, attach and detach of a VFIO cdev through iommufd.
import { IOMMU_IOAS_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_DETACH_IOMMUFD_PT, VFIO_DEVICE_GET_INFO } from '@iommu-lab/iommu-core';
import { isErrnoError, O_RDWR } from '@iommu-lab/platform';
import { ASSERT_EQ, ASSERT_LE, ASSERT_NE, Suite } from '../harness/harness.js';
import type { VfioTarget } from './vfio-target.js';

const iommu_dev_path = '/dev/iommu';
const UINT32_MAX = 0xffff_ffff;

interface Self {
  t: VfioTarget;
  cdev_fd: number;
  iommufd: number;
}

/** ioctl(2) as C sees it: 0 or -1 (the ErrnoError is the errno). */
function ioctl(t: VfioTarget, fd: number, req: number, arg: unknown): number {
  try {
    return t.proc.ioctl(fd, req, arg as object);
  } catch (e) {
    if (isErrnoError(e)) return -1;
    throw e;
  }
}

function vfio_device_bind_iommufd_ioctl(t: VfioTarget, cdev_fd: number, iommufd: number): number {
  return ioctl(t, cdev_fd, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
}

function vfio_device_get_info_ioctl(t: VfioTarget, cdev_fd: number): number {
  return ioctl(t, cdev_fd, VFIO_DEVICE_GET_INFO, { argsz: 24 });
}

function vfio_device_ioas_alloc_ioctl(t: VfioTarget, iommufd: number, alloc_args: { out_ioas_id: number }): number {
  const cmd = { size: 12, flags: 0, out_ioas_id: 0 };
  const r = ioctl(t, iommufd, IOMMU_IOAS_ALLOC, cmd);
  alloc_args.out_ioas_id = cmd.out_ioas_id;
  return r;
}

function vfio_device_attach_iommufd_pt_ioctl(t: VfioTarget, cdev_fd: number, pt_id: number): number {
  return ioctl(t, cdev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 16, pt_id });
}

function vfio_device_detach_iommufd_pt_ioctl(t: VfioTarget, cdev_fd: number): number {
  return ioctl(t, cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 12 });
}

/** The test binary run against one device: `target` plays the BDF on the command line. */
export function vfioIommufdSetupSuite(target: () => VfioTarget): Suite {
  const s = new Suite();
  s.FIXTURE<Self>('vfio_cdev', () => ({ t: target(), cdev_fd: -1, iommufd: -1 }));

  s.FIXTURE_SETUP<Self, object>('vfio_cdev', (self) => {
    ASSERT_LE(0, (self.cdev_fd = self.t.proc.open(self.t.cdevPath, O_RDWR)));
    ASSERT_LE(0, (self.iommufd = self.t.proc.open(iommu_dev_path, O_RDWR)));
  });

  s.FIXTURE_TEARDOWN<Self, object>('vfio_cdev', (self) => {
    self.t.proc.close(self.cdev_fd);
    self.t.proc.close(self.iommufd);
  });

  s.TEST_F<Self, object>('vfio_cdev', 'bind', (self) => {
    ASSERT_EQ(0, vfio_device_bind_iommufd_ioctl(self.t, self.cdev_fd, self.iommufd));
    ASSERT_EQ(0, vfio_device_get_info_ioctl(self.t, self.cdev_fd));
  });

  s.TEST_F<Self, object>('vfio_cdev', 'get_info_without_bind_fails', (self) => {
    ASSERT_NE(0, vfio_device_get_info_ioctl(self.t, self.cdev_fd));
  });

  s.TEST_F<Self, object>('vfio_cdev', 'bind_bad_iommufd_fails', (self) => {
    ASSERT_NE(0, vfio_device_bind_iommufd_ioctl(self.t, self.cdev_fd, -2));
  });

  s.TEST_F<Self, object>('vfio_cdev', 'repeated_bind_fails', (self) => {
    ASSERT_EQ(0, vfio_device_bind_iommufd_ioctl(self.t, self.cdev_fd, self.iommufd));
    ASSERT_NE(0, vfio_device_bind_iommufd_ioctl(self.t, self.cdev_fd, self.iommufd));
  });

  s.TEST_F<Self, object>('vfio_cdev', 'attach_detatch_pt', (self) => {
    const alloc_args = { out_ioas_id: 0 };
    ASSERT_EQ(0, vfio_device_bind_iommufd_ioctl(self.t, self.cdev_fd, self.iommufd));
    ASSERT_EQ(0, vfio_device_ioas_alloc_ioctl(self.t, self.iommufd, alloc_args));
    ASSERT_EQ(0, vfio_device_attach_iommufd_pt_ioctl(self.t, self.cdev_fd, alloc_args.out_ioas_id));
    ASSERT_EQ(0, vfio_device_detach_iommufd_pt_ioctl(self.t, self.cdev_fd));
  });

  s.TEST_F<Self, object>('vfio_cdev', 'attach_invalid_pt_fails', (self) => {
    ASSERT_EQ(0, vfio_device_bind_iommufd_ioctl(self.t, self.cdev_fd, self.iommufd));
    ASSERT_NE(0, vfio_device_attach_iommufd_pt_ioctl(self.t, self.cdev_fd, UINT32_MAX));
  });
  return s;
}
