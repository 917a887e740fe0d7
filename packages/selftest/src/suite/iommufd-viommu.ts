// FIXTURE(iommufd_viommu): vIOMMU and vDEVICE objects, nested IOPF, the vIOMMU mmap region, vEVENTQs, HW queues.
import { IOMMU_HW_QUEUE_TYPE_DEFAULT, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_FAULT_ID_VALID, iommufd_vevent_header } from '@iommu-lab/iommu-core';
import { PAGE_SIZE, type SelfBase, selfBase } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_NE, errnoOf, EXPECT_ERRNO, SKIP } from '../harness/harness.js';
import { test_cmd_trigger_iopf, test_ioctl_fault_alloc } from '../harness/utils-access.js';
import {
  _test_ioctl_destroy,
  teardown_iommufd,
  test_err_ioctl_ioas_unmap,
  test_ioctl_destroy,
  test_ioctl_ioas_alloc,
  test_ioctl_ioas_map,
  test_ioctl_ioas_unmap,
  test_ioctl_set_default_memory_limit,
} from '../harness/utils-ioas.js';
import {
  assert,
  test_cmd_dev_check_cache,
  test_cmd_dev_check_cache_all,
  test_cmd_hwpt_alloc,
  test_cmd_hwpt_alloc_iopf,
  test_cmd_hwpt_alloc_nested,
  test_cmd_mock_domain,
  test_cmd_mock_domain_replace,
  test_err_hwpt_alloc_iopf,
  test_err_mock_domain_replace,
  userStruct,
} from '../harness/utils-mock.js';
import {
  test_cmd_hw_queue_alloc,
  test_cmd_read_vevents,
  test_cmd_trigger_vevents,
  test_cmd_vdevice_alloc,
  test_cmd_veventq_alloc,
  test_cmd_viommu_alloc,
  test_cmd_viommu_invalidate,
  test_err_hw_queue_alloc,
  test_err_mmap,
  test_err_read_vevents,
  test_err_vdevice_alloc,
  test_err_veventq_alloc,
  test_err_viommu_alloc,
  test_err_viommu_invalidate,
} from '../harness/utils-viommu.js';
import {
  IOMMU_HW_QUEUE_TYPE_SELFTEST,
  IOMMU_HWPT_DATA_SELFTEST,
  iommu_hwpt_selftest,
  IOMMU_TEST_DEV_CACHE_DEFAULT,
  IOMMU_TEST_HW_QUEUE_MAX,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_TEST_IOTLB_DEFAULT,
  IOMMU_VEVENTQ_TYPE_SELFTEST,
  iommu_viommu_invalidate_selftest,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID,
  iommu_viommu_selftest,
  IOMMU_VIOMMU_TYPE_SELFTEST,
  MOCK_APERTURE_START,
  MOCK_DEV_CACHE_ID_MAX,
} from '../uapi/iommufd-test.js';
import { suite } from './suite.js';

export interface Self extends SelfBase {
  ioas_id: number;
  stdev_id: number;
  hwpt_id: number;
  nested_hwpt_id: number;
  device_id: number;
  viommu_id: number;
}

export interface Variant {
  viommu: number;
}

export const F = 'iommufd_viommu';
const UINT32_MAX = 0xffff_ffff;

suite.FIXTURE<Self>(F, (m) => ({ ...selfBase(m), ioas_id: 0, stdev_id: 0, hwpt_id: 0, nested_hwpt_id: 0, device_id: 0, viommu_id: 0 }));

suite.FIXTURE_SETUP<Self, Variant>(F, (self, variant) => {
  self.fd = self.env.proc.open('/dev/iommu');
  ASSERT_NE(-1, self.fd);
  self.ioas_id = test_ioctl_ioas_alloc(self);
  test_ioctl_set_default_memory_limit(self);

  if (variant.viommu) {
    const data = userStruct(self, iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT, pagetable_type: 0 }));

    [self.stdev_id, , self.device_id] = test_cmd_mock_domain(self, self.ioas_id);

    // Allocate a nesting parent hwpt
    self.hwpt_id = test_cmd_hwpt_alloc(self, self.device_id, self.ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT);

    // Allocate a vIOMMU taking refcount of the parent hwpt
    self.viommu_id = test_cmd_viommu_alloc(self, self.device_id, self.hwpt_id, IOMMU_VIOMMU_TYPE_SELFTEST, 0n, 0);

    // Allocate a regular nested hwpt
    self.nested_hwpt_id = test_cmd_hwpt_alloc_nested(self, self.device_id, self.viommu_id, 0, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size);
  }
});

suite.FIXTURE_TEARDOWN<Self, Variant>(F, (self) => teardown_iommufd(self, self.fd));

suite.FIXTURE_VARIANT_ADD<Variant>(F, 'no_viommu', { viommu: 0 });

suite.FIXTURE_VARIANT_ADD<Variant>(F, 'mock_viommu', { viommu: 1 });

suite.TEST_F<Self, Variant>(F, 'viommu_auto_destroy', () => {});

suite.TEST_F<Self, Variant>(F, 'viommu_negative_tests', (self, _v, m) => {
  const device_id = self.device_id;
  const ioas_id = self.ioas_id;

  if (self.device_id) {
    // Negative test -- invalid hwpt (hwpt_id=0)
    test_err_viommu_alloc(self, 'ENOENT', device_id, 0, IOMMU_VIOMMU_TYPE_SELFTEST, 0n, 0);

    // Negative test -- not a nesting parent hwpt
    const hwpt_id = test_cmd_hwpt_alloc(self, device_id, ioas_id, 0);
    test_err_viommu_alloc(self, 'EINVAL', device_id, hwpt_id, IOMMU_VIOMMU_TYPE_SELFTEST, 0n, 0);
    test_ioctl_destroy(self, hwpt_id);

    // Negative test -- unsupported viommu type
    test_err_viommu_alloc(self, 'EOPNOTSUPP', device_id, self.hwpt_id, 0xdead, 0n, 0);
    EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, self.hwpt_id));
    EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, self.viommu_id));
  } else {
    test_err_viommu_alloc(self, 'ENOENT', self.device_id, self.hwpt_id, IOMMU_VIOMMU_TYPE_SELFTEST, 0n, 0);
  }
});

suite.TEST_F<Self, Variant>(F, 'viommu_alloc_nested_iopf', (self, _v, m) => {
  const data = userStruct(self, iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT, pagetable_type: 0 }));
  const viommu_id = self.viommu_id;
  const dev_id = self.device_id;

  if (!dev_id) SKIP('Skipping test for variant no_viommu');

  const [fault_id, fault_fd] = test_ioctl_fault_alloc(self);
  test_err_hwpt_alloc_iopf(self, 'ENOENT', dev_id, viommu_id, UINT32_MAX, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size);
  test_err_hwpt_alloc_iopf(self, 'EOPNOTSUPP', dev_id, viommu_id, fault_id, (IOMMU_HWPT_FAULT_ID_VALID | (1 << 31)) >>> 0, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size);
  const iopf_hwpt_id = test_cmd_hwpt_alloc_iopf(self, dev_id, viommu_id, fault_id, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size);

  // Must allocate vdevice before attaching to a nested hwpt
  test_err_mock_domain_replace(self, 'ENOENT', self.stdev_id, iopf_hwpt_id);
  test_cmd_vdevice_alloc(self, viommu_id, dev_id, 0x99);
  test_cmd_mock_domain_replace(self, self.stdev_id, iopf_hwpt_id);
  EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, iopf_hwpt_id));
  test_cmd_trigger_iopf(self, dev_id, fault_fd);

  test_cmd_mock_domain_replace(self, self.stdev_id, self.ioas_id);
  test_ioctl_destroy(self, iopf_hwpt_id);
  self.env.proc.close(fault_fd);
  test_ioctl_destroy(self, fault_id);
});

suite.TEST_F<Self, Variant>(F, 'viommu_alloc_with_data', (self, _v, m) => {
  const proc = self.env.proc;
  const data_ptr = userStruct(self, iommu_viommu_selftest.encode({ in_data: 0xbeef, out_data: 0, out_mmap_offset: 0n, out_mmap_length: 0n }));

  if (!self.device_id) SKIP('Skipping test for variant no_viommu');

  self.viommu_id = test_cmd_viommu_alloc(self, self.device_id, self.hwpt_id, IOMMU_VIOMMU_TYPE_SELFTEST, data_ptr, iommu_viommu_selftest.size);
  const data = iommu_viommu_selftest.decode(proc.memRead(data_ptr, iommu_viommu_selftest.size));
  ASSERT_EQ(data.out_data, data.in_data);

  // Negative mmap tests -- offset and length cannot be changed
  test_err_mmap(self, 'ENXIO', data.out_mmap_length, data.out_mmap_offset + BigInt(PAGE_SIZE));
  test_err_mmap(self, 'ENXIO', data.out_mmap_length, data.out_mmap_offset + BigInt(PAGE_SIZE * 2));
  test_err_mmap(self, 'ENXIO', data.out_mmap_length / 2n, data.out_mmap_offset);
  test_err_mmap(self, 'ENXIO', data.out_mmap_length * 2n, data.out_mmap_offset);

  // Now do a correct mmap for a loopback test
  const test = proc.mmap(data.out_mmap_length, { fd: self.fd, offset: data.out_mmap_offset, shared: true });
  ASSERT_NE(0n, test);
  ASSERT_EQ(data.in_data, new DataView(proc.memRead(test, 4).buffer).getUint32(0, true));

  // The owner of the mmap region should be blocked
  EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, self.viommu_id));
  proc.munmap(test, data.out_mmap_length);
});

suite.TEST_F<Self, Variant>(F, 'vdevice_alloc', (self) => {
  const proc = self.env.proc;
  const viommu_id = self.viommu_id;
  const dev_id = self.device_id;
  let vdev_id: number;
  const prev_seq = { v: -1 };
  const hdr_size = iommufd_vevent_header.size;

  if (dev_id) {
    // Must allocate vdevice before attaching to a nested hwpt
    test_err_mock_domain_replace(self, 'ENOENT', self.stdev_id, self.nested_hwpt_id);

    // Test depth lower and upper bounds (mirrors kernel cap)
    const VEVENTQ_MAX_DEPTH = 1 << 19;
    test_err_veventq_alloc(self, 'EINVAL', viommu_id, IOMMU_VEVENTQ_TYPE_SELFTEST, 0);
    test_err_veventq_alloc(self, 'EINVAL', viommu_id, IOMMU_VEVENTQ_TYPE_SELFTEST, VEVENTQ_MAX_DEPTH + 1);
    let [veventq_id, veventq_fd] = test_cmd_veventq_alloc(self, viommu_id, IOMMU_VEVENTQ_TYPE_SELFTEST, VEVENTQ_MAX_DEPTH);
    proc.close(veventq_fd);
    test_ioctl_destroy(self, veventq_id);

    // Allocate a vEVENTQ with veventq_depth=2
    [veventq_id, veventq_fd] = test_cmd_veventq_alloc(self, viommu_id, IOMMU_VEVENTQ_TYPE_SELFTEST, 2);
    test_err_veventq_alloc(self, 'EEXIST', viommu_id, IOMMU_VEVENTQ_TYPE_SELFTEST, 2);

    // Invalid read counts on an empty vEVENTQ
    ASSERT_EQ('EINVAL', errnoOf(() => proc.read(veventq_fd, 0)), 'read(0)');
    ASSERT_EQ('EINVAL', errnoOf(() => proc.read(veventq_fd, hdr_size - 1)), 'read(hdr_size - 1)');

    // Set vdev_id to 0x99, unset it, and set to 0x88
    vdev_id = test_cmd_vdevice_alloc(self, viommu_id, dev_id, 0x99);
    test_cmd_mock_domain_replace(self, self.stdev_id, self.nested_hwpt_id);
    test_cmd_trigger_vevents(self, dev_id, 1);

    // Invalid read counts on a non-empty vEVENTQ
    ASSERT_EQ('EINVAL', errnoOf(() => proc.read(veventq_fd, 0)), 'read(0)');
    // header fits but the event's payload doesn't
    ASSERT_EQ('EINVAL', errnoOf(() => proc.read(veventq_fd, hdr_size)), 'read(hdr_size)');

    test_cmd_read_vevents(self, veventq_fd, 1, 0x99, prev_seq);
    test_err_vdevice_alloc(self, 'EEXIST', viommu_id, dev_id, 0x99);
    test_cmd_mock_domain_replace(self, self.stdev_id, self.ioas_id);
    test_ioctl_destroy(self, vdev_id);

    // Try again with 0x88
    vdev_id = test_cmd_vdevice_alloc(self, viommu_id, dev_id, 0x88);
    test_cmd_mock_domain_replace(self, self.stdev_id, self.nested_hwpt_id);
    // Trigger an overflow with three events
    test_cmd_trigger_vevents(self, dev_id, 3);
    test_err_read_vevents(self, 'EOVERFLOW', veventq_fd, 3, 0x88, prev_seq);
    // Overflow must be gone after the previous reads
    test_cmd_trigger_vevents(self, dev_id, 1);
    test_cmd_read_vevents(self, veventq_fd, 1, 0x88, prev_seq);
    proc.close(veventq_fd);
    test_cmd_mock_domain_replace(self, self.stdev_id, self.ioas_id);
    test_ioctl_destroy(self, vdev_id);
    test_ioctl_destroy(self, veventq_id);
  } else {
    test_err_vdevice_alloc(self, 'ENOENT', viommu_id, dev_id, 0x99);
  }
});

suite.TEST_F<Self, Variant>(F, 'vdevice_cache', (self) => {
  const proc = self.env.proc;
  // struct iommu_viommu_invalidate_selftest inv_reqs[2] = {}
  const inv_reqs_ptr = userStruct(self, new Uint8Array(2 * iommu_viommu_invalidate_selftest.size));
  const inv_reqs = [
    { flags: 0, vdev_id: 0, cache_id: 0 },
    { flags: 0, vdev_id: 0, cache_id: 0 },
  ];
  const inv_reqs_sync = (): bigint => {
    inv_reqs.forEach((r, i) => proc.memWrite(inv_reqs_ptr + BigInt(i * iommu_viommu_invalidate_selftest.size), iommu_viommu_invalidate_selftest.encode(r)));
    return inv_reqs_ptr;
  };
  const lreq = iommu_viommu_invalidate_selftest.size;
  const viommu_id = self.viommu_id;
  const dev_id = self.device_id;
  const num_inv = { v: 0 };

  if (!dev_id) SKIP('Skipping test for variant no_viommu');

  const vdev_id = test_cmd_vdevice_alloc(self, viommu_id, dev_id, 0x99);

  test_cmd_dev_check_cache_all(self, dev_id, IOMMU_TEST_DEV_CACHE_DEFAULT);

  // Check data_type by passing zero-length array
  num_inv.v = 0;
  test_cmd_viommu_invalidate(self, viommu_id, inv_reqs_sync(), lreq, num_inv);
  assert(!num_inv.v, '!num_inv');

  // Negative test: Invalid data_type
  num_inv.v = 1;
  test_err_viommu_invalidate(self, 'EINVAL', viommu_id, inv_reqs_sync(), IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID, lreq, num_inv);
  assert(!num_inv.v, '!num_inv');

  // Negative test: structure size sanity
  num_inv.v = 1;
  test_err_viommu_invalidate(self, 'EINVAL', viommu_id, inv_reqs_sync(), IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, lreq + 1, num_inv);
  assert(!num_inv.v, '!num_inv');

  num_inv.v = 1;
  test_err_viommu_invalidate(self, 'EINVAL', viommu_id, inv_reqs_sync(), IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, 1, num_inv);
  assert(!num_inv.v, '!num_inv');

  // Negative test: invalid flag is passed
  num_inv.v = 1;
  inv_reqs[0]!.flags = 0xffffffff;
  inv_reqs[0]!.vdev_id = 0x99;
  test_err_viommu_invalidate(self, 'EOPNOTSUPP', viommu_id, inv_reqs_sync(), IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, lreq, num_inv);
  assert(!num_inv.v, '!num_inv');

  // Negative test: invalid data_uptr when array is not empty
  num_inv.v = 1;
  inv_reqs[0]!.flags = 0;
  inv_reqs[0]!.vdev_id = 0x99;
  test_err_viommu_invalidate(self, 'EINVAL', viommu_id, 0n, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, lreq, num_inv);
  assert(!num_inv.v, '!num_inv');

  // Negative test: invalid entry_len when array is not empty
  num_inv.v = 1;
  inv_reqs[0]!.flags = 0;
  inv_reqs[0]!.vdev_id = 0x99;
  test_err_viommu_invalidate(self, 'EINVAL', viommu_id, inv_reqs_sync(), IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, 0, num_inv);
  assert(!num_inv.v, '!num_inv');

  // Negative test: invalid cache_id
  num_inv.v = 1;
  inv_reqs[0]!.flags = 0;
  inv_reqs[0]!.vdev_id = 0x99;
  inv_reqs[0]!.cache_id = MOCK_DEV_CACHE_ID_MAX + 1;
  test_err_viommu_invalidate(self, 'EINVAL', viommu_id, inv_reqs_sync(), IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, lreq, num_inv);
  assert(!num_inv.v, '!num_inv');

  // Negative test: invalid vdev_id
  num_inv.v = 1;
  inv_reqs[0]!.flags = 0;
  inv_reqs[0]!.vdev_id = 0x9;
  inv_reqs[0]!.cache_id = 0;
  test_err_viommu_invalidate(self, 'EINVAL', viommu_id, inv_reqs_sync(), IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, lreq, num_inv);
  assert(!num_inv.v, '!num_inv');

  // Invalidate the 1st cache entry but fail the 2nd request due to invalid flags configuration in the 2nd request.
  num_inv.v = 2;
  inv_reqs[0]!.flags = 0;
  inv_reqs[0]!.vdev_id = 0x99;
  inv_reqs[0]!.cache_id = 0;
  inv_reqs[1]!.flags = 0xffffffff;
  inv_reqs[1]!.vdev_id = 0x99;
  inv_reqs[1]!.cache_id = 1;
  test_err_viommu_invalidate(self, 'EOPNOTSUPP', viommu_id, inv_reqs_sync(), IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, lreq, num_inv);
  assert(num_inv.v === 1, 'num_inv == 1');
  test_cmd_dev_check_cache(self, dev_id, 0, 0);
  test_cmd_dev_check_cache(self, dev_id, 1, IOMMU_TEST_DEV_CACHE_DEFAULT);
  test_cmd_dev_check_cache(self, dev_id, 2, IOMMU_TEST_DEV_CACHE_DEFAULT);
  test_cmd_dev_check_cache(self, dev_id, 3, IOMMU_TEST_DEV_CACHE_DEFAULT);

  // Invalidate the 1st cache entry but fail the 2nd request due to invalid cache_id configuration in the 2nd request.
  num_inv.v = 2;
  inv_reqs[0]!.flags = 0;
  inv_reqs[0]!.vdev_id = 0x99;
  inv_reqs[0]!.cache_id = 0;
  inv_reqs[1]!.flags = 0;
  inv_reqs[1]!.vdev_id = 0x99;
  inv_reqs[1]!.cache_id = MOCK_DEV_CACHE_ID_MAX + 1;
  test_err_viommu_invalidate(self, 'EINVAL', viommu_id, inv_reqs_sync(), IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, lreq, num_inv);
  assert(num_inv.v === 1, 'num_inv == 1');
  test_cmd_dev_check_cache(self, dev_id, 0, 0);
  test_cmd_dev_check_cache(self, dev_id, 1, IOMMU_TEST_DEV_CACHE_DEFAULT);
  test_cmd_dev_check_cache(self, dev_id, 2, IOMMU_TEST_DEV_CACHE_DEFAULT);
  test_cmd_dev_check_cache(self, dev_id, 3, IOMMU_TEST_DEV_CACHE_DEFAULT);

  // Invalidate the 2nd cache entry and verify
  num_inv.v = 1;
  inv_reqs[0]!.flags = 0;
  inv_reqs[0]!.vdev_id = 0x99;
  inv_reqs[0]!.cache_id = 1;
  test_cmd_viommu_invalidate(self, viommu_id, inv_reqs_sync(), lreq, num_inv);
  assert(num_inv.v === 1, 'num_inv == 1');
  test_cmd_dev_check_cache(self, dev_id, 0, 0);
  test_cmd_dev_check_cache(self, dev_id, 1, 0);
  test_cmd_dev_check_cache(self, dev_id, 2, IOMMU_TEST_DEV_CACHE_DEFAULT);
  test_cmd_dev_check_cache(self, dev_id, 3, IOMMU_TEST_DEV_CACHE_DEFAULT);

  // Invalidate the 3rd and 4th cache entries and verify
  num_inv.v = 2;
  inv_reqs[0]!.flags = 0;
  inv_reqs[0]!.vdev_id = 0x99;
  inv_reqs[0]!.cache_id = 2;
  inv_reqs[1]!.flags = 0;
  inv_reqs[1]!.vdev_id = 0x99;
  inv_reqs[1]!.cache_id = 3;
  test_cmd_viommu_invalidate(self, viommu_id, inv_reqs_sync(), lreq, num_inv);
  assert(num_inv.v === 2, 'num_inv == 2');
  test_cmd_dev_check_cache_all(self, dev_id, 0);

  // Invalidate all cache entries for nested_dev_id[1] and verify
  num_inv.v = 1;
  inv_reqs[0]!.vdev_id = 0x99;
  inv_reqs[0]!.flags = IOMMU_TEST_INVALIDATE_FLAG_ALL;
  test_cmd_viommu_invalidate(self, viommu_id, inv_reqs_sync(), lreq, num_inv);
  assert(num_inv.v === 1, 'num_inv == 1');
  test_cmd_dev_check_cache_all(self, dev_id, 0);
  test_ioctl_destroy(self, vdev_id);
});

suite.TEST_F<Self, Variant>(F, 'hw_queue', (self, _v, m) => {
  let iova = BigInt(MOCK_APERTURE_START);
  const viommu_id = self.viommu_id;
  const hw_queue_id = [0, 0];

  if (!viommu_id) SKIP('Skipping test for variant no_viommu');

  // Fail IOMMU_HW_QUEUE_TYPE_DEFAULT
  test_err_hw_queue_alloc(self, 'EOPNOTSUPP', viommu_id, IOMMU_HW_QUEUE_TYPE_DEFAULT, 0, iova, PAGE_SIZE);
  // Fail queue addr and length
  test_err_hw_queue_alloc(self, 'EINVAL', viommu_id, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova, 0);
  test_err_hw_queue_alloc(self, 'EOVERFLOW', viommu_id, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, 0xffff_ffff_ffff_ffffn, PAGE_SIZE);
  // Fail missing iova
  test_err_hw_queue_alloc(self, 'ENOENT', viommu_id, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova, PAGE_SIZE);

  // Map iova
  iova = test_ioctl_ioas_map(self, self.env.buffer, PAGE_SIZE);
  const iova2 = test_ioctl_ioas_map(self, self.env.buffer + BigInt(PAGE_SIZE), PAGE_SIZE);

  // Fail index=1 and =MAX; must start from index=0
  test_err_hw_queue_alloc(self, 'EIO', viommu_id, IOMMU_HW_QUEUE_TYPE_SELFTEST, 1, iova, PAGE_SIZE);
  test_err_hw_queue_alloc(self, 'EINVAL', viommu_id, IOMMU_HW_QUEUE_TYPE_SELFTEST, IOMMU_TEST_HW_QUEUE_MAX, iova, PAGE_SIZE);

  // Allocate index=0, declare ownership of the iova
  hw_queue_id[0] = test_cmd_hw_queue_alloc(self, viommu_id, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova, PAGE_SIZE);
  // Fail duplicated index
  test_err_hw_queue_alloc(self, 'EEXIST', viommu_id, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova, PAGE_SIZE);
  // Fail unmap, due to iova ownership
  test_err_ioctl_ioas_unmap(self, 'EBUSY', iova, PAGE_SIZE);
  // The 2nd page is not pinned, so it can be unmmap
  test_ioctl_ioas_unmap(self, iova2, PAGE_SIZE);

  // Allocate index=1, with an unaligned case
  hw_queue_id[1] = test_cmd_hw_queue_alloc(self, viommu_id, IOMMU_HW_QUEUE_TYPE_SELFTEST, 1, iova + BigInt(PAGE_SIZE / 2), PAGE_SIZE / 2);
  // Fail to destroy, due to dependency
  EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, hw_queue_id[0]!));

  // Destroy in descending order
  test_ioctl_destroy(self, hw_queue_id[1]);
  test_ioctl_destroy(self, hw_queue_id[0]);
  // Now it can unmap the first page
  test_ioctl_ioas_unmap(self, iova, PAGE_SIZE);
});

suite.TEST_F<Self, Variant>(F, 'vdevice_tombstone', (self, _v, m) => {
  const viommu_id = self.viommu_id;
  const dev_id = self.device_id;

  if (!dev_id) SKIP('Skipping test for variant no_viommu');

  const vdev_id = test_cmd_vdevice_alloc(self, viommu_id, dev_id, 0x99);
  test_ioctl_destroy(self, self.stdev_id);
  EXPECT_ERRNO(m, 'ENOENT', () => _test_ioctl_destroy(self, vdev_id));
});
