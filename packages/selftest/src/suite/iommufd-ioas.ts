// FIXTURE(iommufd_ioas), part 1: IOAS lifetime, nested HWPTs, hw_info, areas, reserved and allowed IOVAs.
import {
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_IOAS_ALLOW_IOVAS,
  iommu_ioas_allow_iovas,
  iommu_iova_range,
} from '@iommu-lab/iommu-core';
import { offsetofend } from '@iommu-lab/iommufd';
import { U64_MAX } from '@iommu-lab/platform';
import { PAGE_SIZE, type SelfBase, selfBase } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_NE, EXPECT_EQ, EXPECT_ERRNO } from '../harness/harness.js';
import { test_cmd_trigger_iopf, test_ioctl_fault_alloc } from '../harness/utils-access.js';
import {
  _test_ioctl_destroy,
  _test_ioctl_ioas_unmap,
  ioctl,
  teardown_iommufd,
  test_err_ioctl_ioas_map,
  test_err_ioctl_ioas_map_fixed,
  test_err_ioctl_ioas_unmap,
  test_ioctl_destroy,
  test_ioctl_ioas_alloc,
  test_ioctl_ioas_map,
  test_ioctl_ioas_map_fixed,
  test_ioctl_ioas_unmap,
  test_ioctl_set_default_memory_limit,
  test_ioctl_set_temp_memory_limit,
  UserArray,
} from '../harness/utils-ioas.js';
import {
  assert,
  test_cmd_dev_check_cache_all,
  test_cmd_get_hw_info,
  test_cmd_get_hw_info_pasid,
  test_cmd_hwpt_alloc,
  test_cmd_hwpt_alloc_iopf,
  test_cmd_hwpt_alloc_nested,
  test_cmd_hwpt_check_iotlb,
  test_cmd_hwpt_check_iotlb_all,
  test_cmd_hwpt_invalidate,
  test_cmd_mock_domain,
  test_cmd_mock_domain_flags,
  test_cmd_mock_domain_replace,
  test_err_get_hw_info,
  test_err_hwpt_alloc,
  test_err_hwpt_alloc_iopf,
  test_err_hwpt_alloc_nested,
  test_err_hwpt_invalidate,
  test_err_mock_domain,
  test_err_mock_domain_replace,
  userStruct,
} from '../harness/utils-mock.js';
import {
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
  iommu_hwpt_invalidate_selftest,
  iommu_hwpt_selftest,
  iommu_test_hw_info,
  IOMMU_TEST_CMD,
  IOMMU_TEST_DEV_CACHE_DEFAULT,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_TEST_IOTLB_DEFAULT,
  IOMMU_TEST_OP_ADD_RESERVED,
  MOCK_APERTURE_START,
  MOCK_FLAGS_DEVICE_PASID,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX,
  MOCK_PAGE_SIZE,
  MOCK_PASID_WIDTH,
} from '../uapi/iommufd-test.js';
import { suite } from './suite.js';

export interface Self extends SelfBase {
  ioas_id: number;
  stdev_id: number;
  hwpt_id: number;
  device_id: number;
  base_iova: number;
  device_pasid_id: number;
}

export interface Variant {
  mock_domains?: number;
  memory_limit?: number;
  pasid_capable?: boolean;
}

const UINT32_MAX = 0xffffffff;

/** ffs(): the 1-based index of the lowest set bit. */
function ffs(x: number): number {
  return 32 - Math.clz32(x & -x);
}

suite.FIXTURE<Self>('iommufd_ioas', (m) => ({ ...selfBase(m), ioas_id: 0, stdev_id: 0, hwpt_id: 0, device_id: 0, base_iova: 0, device_pasid_id: 0 }));

suite.FIXTURE_SETUP<Self, Variant>('iommufd_ioas', (self, variant) => {
  self.fd = self.env.proc.open('/dev/iommu');
  ASSERT_NE(-1, self.fd);
  self.ioas_id = test_ioctl_ioas_alloc(self);
  if (!variant.memory_limit) {
    test_ioctl_set_default_memory_limit(self);
  } else {
    test_ioctl_set_temp_memory_limit(self, variant.memory_limit);
  }
  for (let i = 0; i !== (variant.mock_domains ?? 0); i++) {
    [self.stdev_id, self.hwpt_id, self.device_id] = test_cmd_mock_domain(self, self.ioas_id);
    test_cmd_dev_check_cache_all(self, self.device_id, IOMMU_TEST_DEV_CACHE_DEFAULT);
    self.base_iova = MOCK_APERTURE_START;
  }
  if (variant.pasid_capable) self.device_pasid_id = test_cmd_mock_domain_flags(self, self.ioas_id, MOCK_FLAGS_DEVICE_PASID)[2];
});

suite.FIXTURE_TEARDOWN<Self, Variant>('iommufd_ioas', (self) => {
  test_ioctl_set_default_memory_limit(self);
  teardown_iommufd(self, self.fd);
});

suite.FIXTURE_VARIANT_ADD<Variant>('iommufd_ioas', 'no_domain', {});
suite.FIXTURE_VARIANT_ADD<Variant>('iommufd_ioas', 'mock_domain', { mock_domains: 1, pasid_capable: true });
suite.FIXTURE_VARIANT_ADD<Variant>('iommufd_ioas', 'two_mock_domain', { mock_domains: 2 });
suite.FIXTURE_VARIANT_ADD<Variant>('iommufd_ioas', 'mock_domain_limit', { mock_domains: 1, memory_limit: 16 });

suite.TEST_F<Self, Variant>('iommufd_ioas', 'ioas_auto_destroy', () => {});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'ioas_destroy', (self, _v, m) => {
  if (self.stdev_id) {
    // IOAS cannot be freed while a device has a HWPT using it
    EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, self.ioas_id));
  } else {
    // Can allocate and manually free an IOAS table
    test_ioctl_destroy(self, self.ioas_id);
  }
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'alloc_hwpt_nested', (self, _v, m) => {
  const min_data_len = offsetofend(iommu_hwpt_selftest, 'iotlb');
  const data = userStruct(self, iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT }));
  const data_size = iommu_hwpt_selftest.size;
  const inv_reqs = UserArray.alloc(self, iommu_hwpt_invalidate_selftest, 2);
  const inv_size = iommu_hwpt_invalidate_selftest.size;
  const nested_hwpt_id: [number, number] = [0, 0];
  const num_inv = { v: 0 };
  let parent_hwpt_id = 0;
  let iopf_hwpt_id = 0;

  if (self.device_id) {
    // Negative tests
    test_err_hwpt_alloc(self, 'ENOENT', self.ioas_id, self.device_id, 0);
    test_err_hwpt_alloc(self, 'EINVAL', self.device_id, self.device_id, 0);
    test_err_hwpt_alloc(self, 'EOPNOTSUPP', self.device_id, self.ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_FAULT_ID_VALID);

    parent_hwpt_id = test_cmd_hwpt_alloc(self, self.device_id, self.ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT);
    const parent_hwpt_id_not_work = test_cmd_hwpt_alloc(self, self.device_id, self.ioas_id, 0);

    // Negative nested tests
    test_err_hwpt_alloc_nested(self, 'EINVAL', self.device_id, parent_hwpt_id, 0, IOMMU_HWPT_DATA_NONE, data, data_size);
    test_err_hwpt_alloc_nested(self, 'EOPNOTSUPP', self.device_id, parent_hwpt_id, 0, IOMMU_HWPT_DATA_SELFTEST + 1, data, data_size);
    test_err_hwpt_alloc_nested(self, 'EINVAL', self.device_id, parent_hwpt_id, 0, IOMMU_HWPT_DATA_SELFTEST, data, min_data_len - 1);
    test_err_hwpt_alloc_nested(self, 'EFAULT', self.device_id, parent_hwpt_id, 0, IOMMU_HWPT_DATA_SELFTEST, 0n, data_size);
    test_err_hwpt_alloc_nested(self, 'EOPNOTSUPP', self.device_id, parent_hwpt_id, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_DATA_SELFTEST, data, data_size);
    test_err_hwpt_alloc_nested(self, 'EINVAL', self.device_id, parent_hwpt_id_not_work, 0, IOMMU_HWPT_DATA_SELFTEST, data, data_size);

    // Allocate two nested hwpts sharing one common parent hwpt
    const [fault_id, fault_fd] = test_ioctl_fault_alloc(self);
    nested_hwpt_id[0] = test_cmd_hwpt_alloc_nested(self, self.device_id, parent_hwpt_id, 0, IOMMU_HWPT_DATA_SELFTEST, data, data_size);
    nested_hwpt_id[1] = test_cmd_hwpt_alloc_nested(self, self.device_id, parent_hwpt_id, 0, IOMMU_HWPT_DATA_SELFTEST, data, data_size);
    test_err_hwpt_alloc_iopf(self, 'ENOENT', self.device_id, parent_hwpt_id, UINT32_MAX, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_DATA_SELFTEST, data, data_size);
    iopf_hwpt_id = test_cmd_hwpt_alloc_iopf(self, self.device_id, parent_hwpt_id, fault_id, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_DATA_SELFTEST, data, data_size);
    test_cmd_hwpt_check_iotlb_all(self, nested_hwpt_id[0], IOMMU_TEST_IOTLB_DEFAULT);
    test_cmd_hwpt_check_iotlb_all(self, nested_hwpt_id[1], IOMMU_TEST_IOTLB_DEFAULT);

    // Negative test: a nested hwpt on top of a nested hwpt
    test_err_hwpt_alloc_nested(self, 'EINVAL', self.device_id, nested_hwpt_id[0], 0, IOMMU_HWPT_DATA_SELFTEST, data, data_size);
    // Negative test: parent hwpt now cannot be freed
    EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, parent_hwpt_id));

    // hwpt_invalidate does not support a parent hwpt
    num_inv.v = 1;
    test_err_hwpt_invalidate(self, 'EINVAL', parent_hwpt_id, inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Check data_type by passing zero-length array
    num_inv.v = 0;
    test_cmd_hwpt_invalidate(self, nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Negative test: Invalid data_type
    num_inv.v = 1;
    test_err_hwpt_invalidate(self, 'EINVAL', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, inv_size, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Negative test: structure size sanity
    num_inv.v = 1;
    test_err_hwpt_invalidate(self, 'EINVAL', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size + 1, num_inv);
    assert(!num_inv.v, '!num_inv');

    num_inv.v = 1;
    test_err_hwpt_invalidate(self, 'EINVAL', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 1, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Negative test: entry_len is bounded by PAGE_SIZE
    num_inv.v = 1;
    test_err_hwpt_invalidate(self, 'EINVAL', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, PAGE_SIZE + 1, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Negative test: entry_num is bounded
    const IOMMU_HWPT_INVALIDATE_ENTRY_NUM_MAX = 1 << 19;
    num_inv.v = IOMMU_HWPT_INVALIDATE_ENTRY_NUM_MAX + 1;
    test_err_hwpt_invalidate(self, 'EINVAL', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Negative test: invalid flag is passed
    num_inv.v = 1;
    inv_reqs.set(0, { flags: 0xffffffff });
    test_err_hwpt_invalidate(self, 'EOPNOTSUPP', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Negative test: invalid data_uptr when array is not empty
    num_inv.v = 1;
    inv_reqs.set(0, { flags: 0 });
    test_err_hwpt_invalidate(self, 'EINVAL', nested_hwpt_id[0], 0n, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Negative test: invalid entry_len when array is not empty
    num_inv.v = 1;
    inv_reqs.set(0, { flags: 0 });
    test_err_hwpt_invalidate(self, 'EINVAL', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 0, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Negative test: invalid iotlb_id
    num_inv.v = 1;
    inv_reqs.set(0, { flags: 0 });
    inv_reqs.set(0, { iotlb_id: MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1 });
    test_err_hwpt_invalidate(self, 'EINVAL', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(!num_inv.v, '!num_inv');

    // Invalidate the 1st iotlb entry but fail the 2nd request due to invalid flags configuration in the 2nd request.
    num_inv.v = 2;
    inv_reqs.set(0, { flags: 0, iotlb_id: 0 });
    inv_reqs.set(1, { flags: 0xffffffff, iotlb_id: 1 });
    test_err_hwpt_invalidate(self, 'EOPNOTSUPP', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(num_inv.v === 1, 'num_inv == 1');
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 0, 0);
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 1, IOMMU_TEST_IOTLB_DEFAULT);
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 2, IOMMU_TEST_IOTLB_DEFAULT);
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 3, IOMMU_TEST_IOTLB_DEFAULT);

    // Invalidate the 1st iotlb entry but fail the 2nd request due to invalid iotlb_id configuration in the 2nd request.
    num_inv.v = 2;
    inv_reqs.set(0, { flags: 0, iotlb_id: 0 });
    inv_reqs.set(1, { flags: 0, iotlb_id: MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1 });
    test_err_hwpt_invalidate(self, 'EINVAL', nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(num_inv.v === 1, 'num_inv == 1');
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 0, 0);
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 1, IOMMU_TEST_IOTLB_DEFAULT);
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 2, IOMMU_TEST_IOTLB_DEFAULT);
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 3, IOMMU_TEST_IOTLB_DEFAULT);

    // Invalidate the 2nd iotlb entry and verify
    num_inv.v = 1;
    inv_reqs.set(0, { flags: 0, iotlb_id: 1 });
    test_cmd_hwpt_invalidate(self, nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(num_inv.v === 1, 'num_inv == 1');
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 0, 0);
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 1, 0);
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 2, IOMMU_TEST_IOTLB_DEFAULT);
    test_cmd_hwpt_check_iotlb(self, nested_hwpt_id[0], 3, IOMMU_TEST_IOTLB_DEFAULT);

    // Invalidate the 3rd and 4th iotlb entries and verify
    num_inv.v = 2;
    inv_reqs.set(0, { flags: 0, iotlb_id: 2 });
    inv_reqs.set(1, { flags: 0, iotlb_id: 3 });
    test_cmd_hwpt_invalidate(self, nested_hwpt_id[0], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(num_inv.v === 2, 'num_inv == 2');
    test_cmd_hwpt_check_iotlb_all(self, nested_hwpt_id[0], 0);

    // Invalidate all iotlb entries for nested_hwpt_id[1] and verify
    num_inv.v = 1;
    inv_reqs.set(0, { flags: IOMMU_TEST_INVALIDATE_FLAG_ALL });
    test_cmd_hwpt_invalidate(self, nested_hwpt_id[1], inv_reqs.uptr, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, inv_size, num_inv);
    assert(num_inv.v === 1, 'num_inv == 1');
    test_cmd_hwpt_check_iotlb_all(self, nested_hwpt_id[1], 0);

    // Attach device to nested_hwpt_id[0] that then will be busy
    test_cmd_mock_domain_replace(self, self.stdev_id, nested_hwpt_id[0]);
    EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, nested_hwpt_id[0]));

    // Switch from nested_hwpt_id[0] to nested_hwpt_id[1]
    test_cmd_mock_domain_replace(self, self.stdev_id, nested_hwpt_id[1]);
    EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, nested_hwpt_id[1]));
    test_ioctl_destroy(self, nested_hwpt_id[0]);

    // Switch from nested_hwpt_id[1] to iopf_hwpt_id
    test_cmd_mock_domain_replace(self, self.stdev_id, iopf_hwpt_id);
    EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, iopf_hwpt_id));
    // Trigger an IOPF on the device
    test_cmd_trigger_iopf(self, self.device_id, fault_fd);

    // Detach from nested_hwpt_id[1] and destroy it
    test_cmd_mock_domain_replace(self, self.stdev_id, parent_hwpt_id);
    test_ioctl_destroy(self, nested_hwpt_id[1]);
    test_ioctl_destroy(self, iopf_hwpt_id);

    // Detach from the parent hw_pagetable and destroy it
    test_cmd_mock_domain_replace(self, self.stdev_id, self.ioas_id);
    test_ioctl_destroy(self, parent_hwpt_id);
    test_ioctl_destroy(self, parent_hwpt_id_not_work);
    self.env.proc.close(fault_fd);
    test_ioctl_destroy(self, fault_id);
  } else {
    test_err_hwpt_alloc(self, 'ENOENT', self.device_id, self.ioas_id, 0);
    test_err_hwpt_alloc_nested(self, 'ENOENT', self.device_id, parent_hwpt_id, 0, IOMMU_HWPT_DATA_SELFTEST, data, data_size);
    test_err_hwpt_alloc_nested(self, 'ENOENT', self.device_id, parent_hwpt_id, 0, IOMMU_HWPT_DATA_SELFTEST, data, data_size);
    test_err_mock_domain_replace(self, 'ENOENT', self.stdev_id, nested_hwpt_id[0]);
    test_err_mock_domain_replace(self, 'ENOENT', self.stdev_id, nested_hwpt_id[1]);
  }
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'hwpt_attach', (self) => {
  // Create a device attached directly to a hwpt
  if (self.stdev_id) {
    test_cmd_mock_domain(self, self.hwpt_id);
  } else {
    test_err_mock_domain(self, 'ENOENT', self.hwpt_id);
  }
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'ioas_area_destroy', (self, _v, m) => {
  // Adding an area does not change ability to destroy
  test_ioctl_ioas_map_fixed(self, self.env.buffer, PAGE_SIZE, self.base_iova);
  if (self.stdev_id) EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, self.ioas_id));
  else test_ioctl_destroy(self, self.ioas_id);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'ioas_area_auto_destroy', (self) => {
  // Can allocate and automatically free an IOAS table with many areas
  for (let i = 0; i !== 10; i++) {
    test_ioctl_ioas_map_fixed(self, self.env.buffer, PAGE_SIZE, self.base_iova + i * PAGE_SIZE);
  }
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'get_hw_info', (self, variant) => {
  const buffer_exact = userStruct(self, new Uint8Array(iommu_test_hw_info.size));
  // struct { struct iommu_test_hw_info info; uint64_t trailing_bytes; }, on the stack: not zeroed.
  const buffer_larger = userStruct(self, new Uint8Array(iommu_test_hw_info.size + 8).fill(0xa5));
  const buffer_larger_size = iommu_test_hw_info.size + 8;

  if (self.device_id) {
    // Provide a zero-size user_buffer
    test_cmd_get_hw_info(self, self.device_id, IOMMU_HW_INFO_TYPE_DEFAULT, 0n, 0);
    // Provide a user_buffer with exact size
    test_cmd_get_hw_info(self, self.device_id, IOMMU_HW_INFO_TYPE_DEFAULT, buffer_exact, iommu_test_hw_info.size);

    // Request for a wrong data_type, and a correct one
    test_err_get_hw_info(self, 'EOPNOTSUPP', self.device_id, IOMMU_HW_INFO_TYPE_SELFTEST + 1, buffer_exact, iommu_test_hw_info.size);
    test_cmd_get_hw_info(self, self.device_id, IOMMU_HW_INFO_TYPE_SELFTEST, buffer_exact, iommu_test_hw_info.size);
    // Provide a user_buffer with size larger than the exact size to check if kernel zero the trailing bytes.
    test_cmd_get_hw_info(self, self.device_id, IOMMU_HW_INFO_TYPE_DEFAULT, buffer_larger, buffer_larger_size);
    // Provide a user_buffer with size smaller than the exact size to check if the fields within the size range still gets updated.
    test_cmd_get_hw_info(self, self.device_id, IOMMU_HW_INFO_TYPE_DEFAULT, buffer_exact, offsetofend(iommu_test_hw_info, 'flags'));
    let max_pasid = test_cmd_get_hw_info_pasid(self, self.device_id);
    ASSERT_EQ(0, max_pasid);
    if (variant.pasid_capable) {
      max_pasid = test_cmd_get_hw_info_pasid(self, self.device_pasid_id);
      ASSERT_EQ(MOCK_PASID_WIDTH, max_pasid);
    }
  } else {
    test_err_get_hw_info(self, 'ENOENT', self.device_id, IOMMU_HW_INFO_TYPE_DEFAULT, buffer_exact, iommu_test_hw_info.size);
    test_err_get_hw_info(self, 'ENOENT', self.device_id, IOMMU_HW_INFO_TYPE_DEFAULT, buffer_larger, buffer_larger_size);
  }
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'area', (self) => {
  const buffer = self.env.buffer;
  // Unmap fails if nothing is mapped
  for (let i = 0; i !== 10; i++) test_err_ioctl_ioas_unmap(self, 'ENOENT', i * PAGE_SIZE, PAGE_SIZE);

  // Unmap works
  for (let i = 0; i !== 10; i++) test_ioctl_ioas_map_fixed(self, buffer, PAGE_SIZE, self.base_iova + i * PAGE_SIZE);
  for (let i = 0; i !== 10; i++) test_ioctl_ioas_unmap(self, self.base_iova + i * PAGE_SIZE, PAGE_SIZE);

  // Split fails
  test_ioctl_ioas_map_fixed(self, buffer, PAGE_SIZE * 2, self.base_iova + 16 * PAGE_SIZE);
  test_err_ioctl_ioas_unmap(self, 'ENOENT', self.base_iova + 16 * PAGE_SIZE, PAGE_SIZE);
  test_err_ioctl_ioas_unmap(self, 'ENOENT', self.base_iova + 17 * PAGE_SIZE, PAGE_SIZE);

  // Over map fails
  test_err_ioctl_ioas_map_fixed(self, 'EEXIST', buffer, PAGE_SIZE * 2, self.base_iova + 16 * PAGE_SIZE);
  test_err_ioctl_ioas_map_fixed(self, 'EEXIST', buffer, PAGE_SIZE, self.base_iova + 16 * PAGE_SIZE);
  test_err_ioctl_ioas_map_fixed(self, 'EEXIST', buffer, PAGE_SIZE, self.base_iova + 17 * PAGE_SIZE);
  test_err_ioctl_ioas_map_fixed(self, 'EEXIST', buffer, PAGE_SIZE * 2, self.base_iova + 15 * PAGE_SIZE);
  test_err_ioctl_ioas_map_fixed(self, 'EEXIST', buffer, PAGE_SIZE * 3, self.base_iova + 15 * PAGE_SIZE);

  // unmap all works
  test_ioctl_ioas_unmap(self, 0, U64_MAX);

  // Unmap all succeeds on an empty IOAS
  test_ioctl_ioas_unmap(self, 0, U64_MAX);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'unmap_fully_contained_areas', (self) => {
  const unmap_len = { v: 0n };

  // Give no_domain some space to rewind base_iova
  self.base_iova += 4 * PAGE_SIZE;

  for (let i = 0; i !== 4; i++) test_ioctl_ioas_map_fixed(self, self.env.buffer, 8 * PAGE_SIZE, self.base_iova + i * 16 * PAGE_SIZE);

  // Unmap not fully contained area doesn't work
  test_err_ioctl_ioas_unmap(self, 'ENOENT', self.base_iova - 4 * PAGE_SIZE, 8 * PAGE_SIZE);
  test_err_ioctl_ioas_unmap(self, 'ENOENT', self.base_iova + 3 * 16 * PAGE_SIZE + 8 * PAGE_SIZE - 4 * PAGE_SIZE, 8 * PAGE_SIZE);

  // Unmap fully contained areas works
  ASSERT_EQ(0, _test_ioctl_ioas_unmap(self, self.ioas_id, self.base_iova - 4 * PAGE_SIZE, 3 * 16 * PAGE_SIZE + 8 * PAGE_SIZE + 4 * PAGE_SIZE, unmap_len));
  ASSERT_EQ(32 * PAGE_SIZE, unmap_len.v);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'area_auto_iova', (self, _v, m) => {
  const buffer = self.env.buffer;
  const test_cmd = { size: 72, op: IOMMU_TEST_OP_ADD_RESERVED, id: self.ioas_id, add_reserved: { start: BigInt(PAGE_SIZE * 4), length: BigInt(PAGE_SIZE * 100) } };
  const ranges = UserArray.alloc(self, iommu_iova_range, 1);
  const allow_cmd = { size: iommu_ioas_allow_iovas.size, ioas_id: self.ioas_id, num_iovas: 1, __reserved: 0, allowed_iovas: ranges.uptr };
  const iovas: bigint[] = [];

  // Simple 4k pages
  for (let i = 0; i !== 10; i++) iovas[i] = test_ioctl_ioas_map(self, buffer, PAGE_SIZE);
  for (let i = 0; i !== 10; i++) test_ioctl_ioas_unmap(self, iovas[i]!, PAGE_SIZE);

  // Kernel automatically aligns IOVAs properly
  for (let i = 0; i !== 10; i++) {
    const length = PAGE_SIZE * (i + 1);
    if (self.stdev_id) {
      iovas[i] = test_ioctl_ioas_map(self, buffer, length);
    } else {
      iovas[i] = test_ioctl_ioas_map(self, 1n << 31n, length);
    }
    EXPECT_EQ(m, 0, iovas[i]! % (1n << BigInt(ffs(length) - 1)));
  }
  for (let i = 0; i !== 10; i++) test_ioctl_ioas_unmap(self, iovas[i]!, PAGE_SIZE * (i + 1));

  // Avoids a reserved region
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, test_cmd));
  for (let i = 0; i !== 10; i++) {
    const length = PAGE_SIZE * (i + 1);
    iovas[i] = test_ioctl_ioas_map(self, buffer, length);
    EXPECT_EQ(m, 0, iovas[i]! % (1n << BigInt(ffs(length) - 1)));
    EXPECT_EQ(m, false, iovas[i]! > test_cmd.add_reserved.start && iovas[i]! < test_cmd.add_reserved.start + test_cmd.add_reserved.length);
  }
  for (let i = 0; i !== 10; i++) test_ioctl_ioas_unmap(self, iovas[i]!, PAGE_SIZE * (i + 1));

  // Allowed region intersects with a reserved region
  ranges.set(0, { start: BigInt(PAGE_SIZE), last: BigInt(PAGE_SIZE * 600) });
  EXPECT_ERRNO(m, 'EADDRINUSE', () => ioctl(self, IOMMU_IOAS_ALLOW_IOVAS, allow_cmd));

  // Allocate from an allowed region
  if (self.stdev_id) {
    ranges.set(0, { start: BigInt(MOCK_APERTURE_START + PAGE_SIZE), last: BigInt(MOCK_APERTURE_START + PAGE_SIZE * 600 - 1) });
  } else {
    ranges.set(0, { start: BigInt(PAGE_SIZE * 200), last: BigInt(PAGE_SIZE * 600 - 1) });
  }
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_ALLOW_IOVAS, allow_cmd));
  for (let i = 0; i !== 10; i++) {
    const length = PAGE_SIZE * (i + 1);
    iovas[i] = test_ioctl_ioas_map(self, buffer, length);
    const r = ranges.get(0);
    EXPECT_EQ(m, 0, iovas[i]! % (1n << BigInt(ffs(length) - 1)));
    EXPECT_EQ(m, true, iovas[i]! >= r.start);
    EXPECT_EQ(m, true, iovas[i]! <= r.last);
    EXPECT_EQ(m, true, iovas[i]! + BigInt(length) > r.start);
    EXPECT_EQ(m, true, iovas[i]! + BigInt(length) <= r.last + 1n);
  }
  for (let i = 0; i !== 10; i++) test_ioctl_ioas_unmap(self, iovas[i]!, PAGE_SIZE * (i + 1));
});

// https://lore.kernel.org/r/685af644.a00a0220.2e5631.0094.GAE@google.com
suite.TEST_F<Self, Variant>('iommufd_ioas', 'reserved_overflow', (self) => {
  const test_cmd = { size: 72, op: IOMMU_TEST_OP_ADD_RESERVED, id: self.ioas_id, add_reserved: { start: 6n, length: 0n } };
  let map_len: number;
  if (PAGE_SIZE === 4096) {
    test_cmd.add_reserved.length = 0xffffffffffff8001n;
    map_len = 0x5000;
  } else {
    test_cmd.add_reserved.length = U64_MAX - BigInt(MOCK_PAGE_SIZE * 16);
    map_len = MOCK_PAGE_SIZE * 10;
  }
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, test_cmd));
  test_err_ioctl_ioas_map(self, 'ENOSPC', self.env.buffer, map_len);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'area_allowed', (self, _v, m) => {
  const test_cmd = { size: 72, op: IOMMU_TEST_OP_ADD_RESERVED, id: self.ioas_id, add_reserved: { start: BigInt(PAGE_SIZE * 4), length: BigInt(PAGE_SIZE * 100) } };
  const ranges = UserArray.alloc(self, iommu_iova_range, 1);
  const allow_cmd = { size: iommu_ioas_allow_iovas.size, ioas_id: self.ioas_id, num_iovas: 1, __reserved: 0, allowed_iovas: ranges.uptr };

  // Reserved intersects an allowed
  allow_cmd.num_iovas = 1;
  ranges.set(0, { start: BigInt(self.base_iova) });
  ranges.set(0, { last: ranges.get(0).start + BigInt(PAGE_SIZE * 600) });
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_ALLOW_IOVAS, allow_cmd));
  test_cmd.add_reserved.start = ranges.get(0).start + BigInt(PAGE_SIZE);
  test_cmd.add_reserved.length = BigInt(PAGE_SIZE);
  EXPECT_ERRNO(m, 'EADDRINUSE', () => ioctl(self, IOMMU_TEST_CMD, test_cmd));
  allow_cmd.num_iovas = 0;
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_ALLOW_IOVAS, allow_cmd));

  // Allowed intersects a reserved
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, test_cmd));
  allow_cmd.num_iovas = 1;
  ranges.set(0, { start: BigInt(self.base_iova) });
  ranges.set(0, { last: ranges.get(0).start + BigInt(PAGE_SIZE * 600) });
  EXPECT_ERRNO(m, 'EADDRINUSE', () => ioctl(self, IOMMU_IOAS_ALLOW_IOVAS, allow_cmd));
});
