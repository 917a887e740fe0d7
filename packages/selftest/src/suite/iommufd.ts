// FIXTURE(iommufd): command dispatch, sizes, global options and the VFIO compatibility ioctls without an IOAS.
import {
  IOMMU_DESTROY,
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_CHANGE_PROCESS,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_UNMAP,
  IOMMU_OPTION,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VDEVICE_ALLOC,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  IOMMU_VIOMMU_ALLOC,
  _IO,
  IOMMUFD_CMD_BASE,
  IOMMUFD_TYPE,
  iommu_destroy,
  iommu_hw_info,
  iommu_hwpt_alloc,
  iommu_hwpt_invalidate,
  iommu_ioas_alloc,
  iommu_ioas_allow_iovas,
  iommu_ioas_change_process,
  iommu_ioas_copy,
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  iommu_ioas_map_file,
  iommu_ioas_unmap,
  iommu_option,
  iommu_vdevice_alloc,
  iommu_vfio_ioas,
  iommu_viommu_alloc,
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
} from '@iommu-lab/iommu-core';
import type { StructCodec } from '@iommu-lab/platform';
import { offsetofend } from '@iommu-lab/iommufd';
import { BUFFER_SIZE, PAGE_SIZE, type SelfBase, selfBase } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_NE, EXPECT_ERRNO, errnoOf } from '../harness/harness.js';
import { _test_ioctl_destroy, ioctl, teardown_iommufd, test_ioctl_ioas_alloc } from '../harness/utils-ioas.js';
import { MOCK_APERTURE_START } from '../uapi/iommufd-test.js';
import { suite } from './suite.js';

type Self = SelfBase;
void BUFFER_SIZE;

suite.FIXTURE<Self>('iommufd', (m) => selfBase(m));

suite.FIXTURE_SETUP<Self, object>('iommufd', (self) => {
  self.fd = self.env.proc.open('/dev/iommu');
  ASSERT_NE(-1, self.fd);
});

suite.FIXTURE_TEARDOWN<Self, object>('iommufd', (self) => teardown_iommufd(self, self.fd));

suite.TEST_F<Self, object>('iommufd', 'simple_close', () => {});

suite.TEST_F<Self, object>('iommufd', 'cmd_fail', (self, _v, m) => {
  const cmd = { size: iommu_destroy.size, id: 0 };
  // object id is invalid
  EXPECT_ERRNO(m, 'ENOENT', () => _test_ioctl_destroy(self, 0));
  // Bad pointer
  EXPECT_ERRNO(m, 'EFAULT', () => ioctl(self, IOMMU_DESTROY, null));
  // Unknown ioctl
  EXPECT_ERRNO(m, 'ENOTTY', () => ioctl(self, _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE - 1), cmd));
});

suite.TEST_F<Self, object>('iommufd', 'cmd_length', (self, _v, m) => {
  // struct { struct _struct cmd; uint8_t extra; }: the raw bytes with one trailing byte.
  const TEST_LENGTH = <T extends object>(codec: StructCodec<T>, req: number, last: keyof T & string) => {
    const minSize = offsetofend(codec, last);
    const buf = new Uint8Array(codec.size + 1);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, minSize - 1, true);
    buf[codec.size] = 0xff;
    EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, req, buf));
    dv.setUint32(0, codec.size + 1, true);
    EXPECT_ERRNO(m, 'E2BIG', () => ioctl(self, req, buf));
    dv.setUint32(0, codec.size, true);
    const oldErrno = errnoOf(() => ioctl(self, req, buf));
    dv.setUint32(0, codec.size + 1, true);
    buf[codec.size] = 0;
    if (oldErrno) EXPECT_ERRNO(m, oldErrno, () => ioctl(self, req, buf));
    else ASSERT_EQ(0, ioctl(self, req, buf), codec.name);
  };
  TEST_LENGTH(iommu_destroy, IOMMU_DESTROY, 'id');
  TEST_LENGTH(iommu_hw_info, IOMMU_GET_HW_INFO, '__reserved');
  TEST_LENGTH(iommu_hwpt_alloc, IOMMU_HWPT_ALLOC, '__reserved');
  TEST_LENGTH(iommu_hwpt_invalidate, IOMMU_HWPT_INVALIDATE, '__reserved');
  TEST_LENGTH(iommu_ioas_alloc, IOMMU_IOAS_ALLOC, 'out_ioas_id');
  TEST_LENGTH(iommu_ioas_iova_ranges, IOMMU_IOAS_IOVA_RANGES, 'out_iova_alignment');
  TEST_LENGTH(iommu_ioas_allow_iovas, IOMMU_IOAS_ALLOW_IOVAS, 'allowed_iovas');
  TEST_LENGTH(iommu_ioas_map, IOMMU_IOAS_MAP, 'iova');
  TEST_LENGTH(iommu_ioas_copy, IOMMU_IOAS_COPY, 'src_iova');
  TEST_LENGTH(iommu_ioas_unmap, IOMMU_IOAS_UNMAP, 'length');
  TEST_LENGTH(iommu_option, IOMMU_OPTION, 'val64');
  TEST_LENGTH(iommu_vfio_ioas, IOMMU_VFIO_IOAS, '__reserved');
  TEST_LENGTH(iommu_ioas_map_file, IOMMU_IOAS_MAP_FILE, 'iova');
  TEST_LENGTH(iommu_viommu_alloc, IOMMU_VIOMMU_ALLOC, 'out_viommu_id');
  TEST_LENGTH(iommu_vdevice_alloc, IOMMU_VDEVICE_ALLOC, 'virt_id');
  TEST_LENGTH(iommu_ioas_change_process, IOMMU_IOAS_CHANGE_PROCESS, '__reserved');
});

suite.TEST_F<Self, object>('iommufd', 'cmd_ex_fail', (self, _v, m) => {
  // struct { struct iommu_destroy cmd; __u64 future; }
  const buf = new Uint8Array(16);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, 16, true);
  // object id is invalid and command is longer
  EXPECT_ERRNO(m, 'ENOENT', () => ioctl(self, IOMMU_DESTROY, buf));
  // future area is non-zero
  dv.setBigUint64(8, 1n, true);
  EXPECT_ERRNO(m, 'E2BIG', () => ioctl(self, IOMMU_DESTROY, buf));
  // Original command "works"
  dv.setUint32(0, 8, true);
  EXPECT_ERRNO(m, 'ENOENT', () => ioctl(self, IOMMU_DESTROY, buf));
  // Short command fails
  dv.setUint32(0, 7, true);
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, IOMMU_DESTROY, buf));
});

suite.TEST_F<Self, object>('iommufd', 'global_options', (self, _v, m) => {
  const cmd = { size: iommu_option.size, option_id: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_GET, object_id: 0, val64: 1n };
  cmd.option_id = IOMMU_OPTION_RLIMIT_MODE;
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));
  ASSERT_EQ(0, cmd.val64);
  // This requires root
  cmd.op = IOMMU_OPTION_OP_SET;
  cmd.val64 = 1n;
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));
  cmd.val64 = 2n;
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, IOMMU_OPTION, cmd));
  cmd.op = IOMMU_OPTION_OP_GET;
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));
  ASSERT_EQ(1, cmd.val64);
  cmd.op = IOMMU_OPTION_OP_SET;
  cmd.val64 = 0n;
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));
  cmd.op = IOMMU_OPTION_OP_GET;
  cmd.option_id = IOMMU_OPTION_HUGE_PAGES;
  EXPECT_ERRNO(m, 'ENOENT', () => ioctl(self, IOMMU_OPTION, cmd));
  cmd.op = IOMMU_OPTION_OP_SET;
  EXPECT_ERRNO(m, 'ENOENT', () => ioctl(self, IOMMU_OPTION, cmd));
});

// VFIO compatibility IOCTLs

suite.TEST_F<Self, object>('iommufd', 'simple_ioctls', (self) => {
  ASSERT_EQ(VFIO_API_VERSION, ioctl(self, VFIO_GET_API_VERSION));
  ASSERT_EQ(1, ioctl(self, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU));
});

suite.TEST_F<Self, object>('iommufd', 'unmap_cmd', (self, _v, m) => {
  const unmap_cmd = { argsz: 0, flags: 0, iova: BigInt(MOCK_APERTURE_START), size: BigInt(PAGE_SIZE) };
  unmap_cmd.argsz = 1;
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));
  unmap_cmd.argsz = 24;
  unmap_cmd.flags = 2 ** 31;
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));
  unmap_cmd.flags = 0;
  EXPECT_ERRNO(m, 'ENODEV', () => ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));
});

suite.TEST_F<Self, object>('iommufd', 'map_cmd', (self, _v, m) => {
  const map_cmd = { argsz: 0, flags: 0, iova: BigInt(MOCK_APERTURE_START), size: BigInt(PAGE_SIZE), vaddr: self.env.buffer };
  map_cmd.argsz = 1;
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, VFIO_IOMMU_MAP_DMA, map_cmd));
  map_cmd.argsz = 32;
  map_cmd.flags = 2 ** 31;
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, VFIO_IOMMU_MAP_DMA, map_cmd));
  // Requires a domain to be attached
  map_cmd.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  EXPECT_ERRNO(m, 'ENODEV', () => ioctl(self, VFIO_IOMMU_MAP_DMA, map_cmd));
});

suite.TEST_F<Self, object>('iommufd', 'info_cmd', (self, _v, m) => {
  const info_cmd = { argsz: 0 };
  // Invalid argsz
  info_cmd.argsz = 1;
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, VFIO_IOMMU_GET_INFO, info_cmd));
  info_cmd.argsz = 24;
  EXPECT_ERRNO(m, 'ENODEV', () => ioctl(self, VFIO_IOMMU_GET_INFO, info_cmd));
});

suite.TEST_F<Self, object>('iommufd', 'set_iommu_cmd', (self, _v, m) => {
  // Requires a domain to be attached
  EXPECT_ERRNO(m, 'ENODEV', () => ioctl(self, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  EXPECT_ERRNO(m, 'ENODEV', () => ioctl(self, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
});

suite.TEST_F<Self, object>('iommufd', 'vfio_ioas', (self, _v, m) => {
  const vfio_ioas_cmd = { size: iommu_vfio_ioas.size, ioas_id: 0, op: IOMMU_VFIO_IOAS_GET };
  // ENODEV if there is no compat ioas
  EXPECT_ERRNO(m, 'ENODEV', () => ioctl(self, IOMMU_VFIO_IOAS, vfio_ioas_cmd));
  // Invalid id for set
  vfio_ioas_cmd.op = IOMMU_VFIO_IOAS_SET;
  EXPECT_ERRNO(m, 'ENOENT', () => ioctl(self, IOMMU_VFIO_IOAS, vfio_ioas_cmd));
  // Valid id for set
  const ioas_id = test_ioctl_ioas_alloc(self);
  vfio_ioas_cmd.ioas_id = ioas_id;
  ASSERT_EQ(0, ioctl(self, IOMMU_VFIO_IOAS, vfio_ioas_cmd));
  // Same id comes back from get
  vfio_ioas_cmd.op = IOMMU_VFIO_IOAS_GET;
  ASSERT_EQ(0, ioctl(self, IOMMU_VFIO_IOAS, vfio_ioas_cmd));
  ASSERT_EQ(ioas_id, vfio_ioas_cmd.ioas_id);
  // Clear works
  vfio_ioas_cmd.op = IOMMU_VFIO_IOAS_CLEAR;
  ASSERT_EQ(0, ioctl(self, IOMMU_VFIO_IOAS, vfio_ioas_cmd));
  vfio_ioas_cmd.op = IOMMU_VFIO_IOAS_GET;
  EXPECT_ERRNO(m, 'ENODEV', () => ioctl(self, IOMMU_VFIO_IOAS, vfio_ioas_cmd));
});
