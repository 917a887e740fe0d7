// iommufd_utils.h, part 5: PASID attach, replace, detach and check through IOMMU_TEST_CMD.
import type { ErrnoName } from '@iommu-lab/platform';
import {
  IOMMU_TEST_CMD,
  IOMMU_TEST_OP_PASID_ATTACH,
  IOMMU_TEST_OP_PASID_CHECK_HWPT,
  IOMMU_TEST_OP_PASID_DETACH,
  IOMMU_TEST_OP_PASID_REPLACE,
} from '../uapi/iommufd-test.js';
import type { SelfBase } from './env.js';
import { ASSERT_EQ, EXPECT_ERRNO } from './harness.js';
import { ioctl } from './utils-ioas.js';

type Self = SelfBase & { stdev_id: number };

export function _test_cmd_pasid_attach(self: SelfBase, stdev_id: number, pasid: number, pt_id: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_PASID_ATTACH, id: stdev_id, pasid_attach: { pasid, pt_id } });
}
export function test_cmd_pasid_attach(self: Self, pasid: number, hwpt_id: number): void {
  ASSERT_EQ(0, _test_cmd_pasid_attach(self, self.stdev_id, pasid, hwpt_id), 'PASID_ATTACH');
}
export function test_err_pasid_attach(self: Self, errno: ErrnoName, pasid: number, hwpt_id: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_pasid_attach(self, self.stdev_id, pasid, hwpt_id));
}

export function _test_cmd_pasid_replace(self: SelfBase, stdev_id: number, pasid: number, pt_id: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_PASID_REPLACE, id: stdev_id, pasid_replace: { pasid, pt_id } });
}
export function test_cmd_pasid_replace(self: Self, pasid: number, hwpt_id: number): void {
  ASSERT_EQ(0, _test_cmd_pasid_replace(self, self.stdev_id, pasid, hwpt_id), 'PASID_REPLACE');
}
export function test_err_pasid_replace(self: Self, errno: ErrnoName, pasid: number, hwpt_id: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_pasid_replace(self, self.stdev_id, pasid, hwpt_id));
}

export function _test_cmd_pasid_detach(self: SelfBase, stdev_id: number, pasid: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_PASID_DETACH, id: stdev_id, pasid_detach: { pasid } });
}
export function test_cmd_pasid_detach(self: Self, pasid: number): void {
  ASSERT_EQ(0, _test_cmd_pasid_detach(self, self.stdev_id, pasid), 'PASID_DETACH');
}

/** test_cmd_pasid_check_hwpt: 0 when the PASID is attached to hwpt_id (or to nothing, for 0). */
export function test_cmd_pasid_check_hwpt(self: SelfBase, stdev_id: number, pasid: number, hwpt_id: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_PASID_CHECK_HWPT, id: stdev_id, pasid_check: { pasid, hwpt_id } });
}
