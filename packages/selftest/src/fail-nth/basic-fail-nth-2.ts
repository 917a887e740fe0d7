// FIXTURE(basic_fail_nth) of iommufd_fail_nth.c, continued: the access (pages.c) and device.c sweeps.
import {
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
} from '@iommu-lab/iommu-core';
import { PAGE_SIZE } from '../harness/env.js';
import { _test_cmd_create_access, _test_cmd_destroy_access, _test_cmd_destroy_access_pages, _test_ioctl_fault_alloc } from '../harness/utils-access.js';
import { _test_ioctl_ioas_alloc, _test_ioctl_ioas_map, _test_ioctl_destroy, _test_ioctl_set_temp_memory_limit, ioctl } from '../harness/utils-ioas.js';
import { _test_cmd_get_hw_info, _test_cmd_hwpt_alloc, _test_cmd_mock_domain, _test_cmd_mock_domain_flags, _test_cmd_mock_domain_replace } from '../harness/utils-mock.js';
import { _test_cmd_pasid_attach, _test_cmd_pasid_detach, _test_cmd_pasid_replace } from '../harness/utils-pasid.js';
import { _test_cmd_hw_queue_alloc, _test_cmd_vdevice_alloc, _test_cmd_veventq_alloc, _test_cmd_viommu_alloc } from '../harness/utils-viommu.js';
import {
  IOMMU_HW_QUEUE_TYPE_SELFTEST,
  IOMMU_HWPT_DATA_SELFTEST,
  iommu_hwpt_selftest,
  IOMMU_TEST_CMD,
  IOMMU_TEST_IOTLB_DEFAULT,
  IOMMU_TEST_OP_ACCESS_PAGES,
  IOMMU_TEST_OP_ACCESS_RW,
  IOMMU_VEVENTQ_TYPE_SELFTEST,
  IOMMU_VIOMMU_TYPE_SELFTEST,
  MOCK_ACCESS_RW_SLOW_PATH,
  MOCK_ACCESS_RW_WRITE,
  MOCK_APERTURE_START,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
  MOCK_FLAGS_DEVICE_PASID,
} from '../uapi/iommufd-test.js';
import { F, type Self } from './basic-fail-nth.js';
import { BUFFER_SIZE, StackFrame } from './env.js';
import { failed, fail_nth_enable, TEST_FAIL_NTH } from './fail-nth.js';
import { failNthSuite } from './suite.js';

const RW = IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

TEST_FAIL_NTH<Self>(failNthSuite, F, 'access_rw', (_metadata, self, _variant, _nth_state) => {
  const sp = new StackFrame(self.stack);
  const tmp_big = sp.alloca(4096 * 8);
  let ioas_id = 0;
  const tmp = sp.alloca(32 * 2);
  const iova = { v: 0n };

  if (failed(() => (self.fd = self.env.proc.open('/dev/iommu')))) return -1;

  if (failed(() => (ioas_id = _test_ioctl_ioas_alloc(self)))) return -1;

  if (failed(() => _test_ioctl_set_temp_memory_limit(self, 32))) return -1;

  if (failed(() => _test_ioctl_ioas_map(self, ioas_id, self.env.buffer, 262144, iova, RW))) return -1;

  fail_nth_enable(_nth_state);

  if (failed(() => (self.access_id = _test_cmd_create_access(self, ioas_id, 0)))) return -1;

  {
    const access_cmd = { size: 72, op: IOMMU_TEST_OP_ACCESS_RW, id: self.access_id, access_rw: { iova: iova.v, length: 32n * 2n, uptr: tmp, flags: 0 } };

    // READ
    if (failed(() => ioctl(self, IOMMU_TEST_CMD, access_cmd))) return -1;

    access_cmd.access_rw.flags = MOCK_ACCESS_RW_WRITE;
    if (failed(() => ioctl(self, IOMMU_TEST_CMD, access_cmd))) return -1;

    access_cmd.access_rw.flags = MOCK_ACCESS_RW_SLOW_PATH;
    if (failed(() => ioctl(self, IOMMU_TEST_CMD, access_cmd))) return -1;
    access_cmd.access_rw.flags = MOCK_ACCESS_RW_SLOW_PATH | MOCK_ACCESS_RW_WRITE;
    if (failed(() => ioctl(self, IOMMU_TEST_CMD, access_cmd))) return -1;
  }

  {
    const access_cmd = { size: 72, op: IOMMU_TEST_OP_ACCESS_RW, id: self.access_id, access_rw: { iova: iova.v, flags: MOCK_ACCESS_RW_SLOW_PATH, length: 4096n * 8n, uptr: tmp_big } };

    if (failed(() => ioctl(self, IOMMU_TEST_CMD, access_cmd))) return -1;
  }
  if (failed(() => _test_cmd_destroy_access(self, self.access_id))) return -1;
  self.access_id = 0;
  return 0;
});

// pages.c access functions
TEST_FAIL_NTH<Self>(failNthSuite, F, 'access_pin', (_metadata, self, _variant, _nth_state) => {
  let access_pages_id = 0;
  let ioas_id = 0;
  const iova = { v: 0n };

  if (failed(() => (self.fd = self.env.proc.open('/dev/iommu')))) return -1;

  if (failed(() => (ioas_id = _test_ioctl_ioas_alloc(self)))) return -1;

  if (failed(() => _test_ioctl_set_temp_memory_limit(self, 32))) return -1;

  if (failed(() => _test_ioctl_ioas_map(self, ioas_id, self.env.buffer, BUFFER_SIZE, iova, RW))) return -1;

  if (failed(() => (self.access_id = _test_cmd_create_access(self, ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)))) return -1;

  fail_nth_enable(_nth_state);

  {
    const access_cmd = {
      size: 72,
      op: IOMMU_TEST_OP_ACCESS_PAGES,
      id: self.access_id,
      access_pages: { flags: 0, out_access_pages_id: 0, iova: iova.v, length: BigInt(BUFFER_SIZE), uptr: self.env.buffer },
    };

    if (failed(() => ioctl(self, IOMMU_TEST_CMD, access_cmd))) return -1;
    access_pages_id = access_cmd.access_pages.out_access_pages_id;
  }

  if (failed(() => _test_cmd_destroy_access_pages(self, self.access_id, access_pages_id))) return -1;

  if (failed(() => _test_cmd_destroy_access(self, self.access_id))) return -1;
  self.access_id = 0;
  return 0;
});

// iopt_pages_fill_xarray()
TEST_FAIL_NTH<Self>(failNthSuite, F, 'access_pin_domain', (_metadata, self, _variant, _nth_state) => {
  let access_pages_id = 0;
  let ioas_id = 0;
  let stdev_id = 0;
  const iova = { v: 0n };

  if (failed(() => (self.fd = self.env.proc.open('/dev/iommu')))) return -1;

  if (failed(() => (ioas_id = _test_ioctl_ioas_alloc(self)))) return -1;

  if (failed(() => _test_ioctl_set_temp_memory_limit(self, 32))) return -1;

  if (failed(() => ([stdev_id] = _test_cmd_mock_domain(self, ioas_id)))) return -1;

  if (failed(() => _test_ioctl_ioas_map(self, ioas_id, self.env.buffer, BUFFER_SIZE, iova, RW))) return -1;

  if (failed(() => (self.access_id = _test_cmd_create_access(self, ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)))) return -1;

  fail_nth_enable(_nth_state);

  {
    const access_cmd = {
      size: 72,
      op: IOMMU_TEST_OP_ACCESS_PAGES,
      id: self.access_id,
      access_pages: { flags: 0, out_access_pages_id: 0, iova: iova.v, length: BigInt(BUFFER_SIZE), uptr: self.env.buffer },
    };

    if (failed(() => ioctl(self, IOMMU_TEST_CMD, access_cmd))) return -1;
    access_pages_id = access_cmd.access_pages.out_access_pages_id;
  }

  if (failed(() => _test_cmd_destroy_access_pages(self, self.access_id, access_pages_id))) return -1;

  if (failed(() => _test_cmd_destroy_access(self, self.access_id))) return -1;
  self.access_id = 0;

  if (failed(() => _test_ioctl_destroy(self, stdev_id))) return -1;
  return 0;
});

// device.c
TEST_FAIL_NTH<Self>(failNthSuite, F, 'device', (_metadata, self, _variant, _nth_state) => {
  const sp = new StackFrame(self.stack);
  const data = sp.alloca(iommu_hwpt_selftest.size);
  const info = sp.alloca(8);
  let fault_id = 0;
  let fault_fd = 0;
  let veventq_fd = 0;
  let test_hwpt_id = 0;
  let ioas_id = 0;
  let ioas_id2 = 0;
  let idev_id = 0;
  let hwpt_id = 0;
  let viommu_id = 0;
  const iova = { v: 0n };
  self.env.proc.memWrite(data, iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT }));

  if (failed(() => (self.fd = self.env.proc.open('/dev/iommu')))) return -1;

  if (failed(() => (ioas_id = _test_ioctl_ioas_alloc(self)))) return -1;

  if (failed(() => (ioas_id2 = _test_ioctl_ioas_alloc(self)))) return -1;

  iova.v = BigInt(MOCK_APERTURE_START);
  if (failed(() => _test_ioctl_ioas_map(self, ioas_id, self.env.buffer, PAGE_SIZE, iova, IOMMU_IOAS_MAP_FIXED_IOVA | RW))) return -1;
  if (failed(() => _test_ioctl_ioas_map(self, ioas_id2, self.env.buffer, PAGE_SIZE, iova, IOMMU_IOAS_MAP_FIXED_IOVA | RW))) return -1;

  fail_nth_enable(_nth_state);

  if (failed(() => ([self.stdev_id, , idev_id] = _test_cmd_mock_domain_flags(self, ioas_id, MOCK_FLAGS_DEVICE_PASID)))) return -1;

  if (failed(() => _test_cmd_get_hw_info(self, idev_id, IOMMU_HW_INFO_TYPE_DEFAULT, info, 8))) return -1;

  if (failed(() => (hwpt_id = _test_cmd_hwpt_alloc(self, idev_id, ioas_id, 0, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE, 0n, 0)))) return -1;

  if (failed(() => _test_cmd_mock_domain_replace(self, self.stdev_id, ioas_id2))) return -1;

  if (failed(() => _test_cmd_mock_domain_replace(self, self.stdev_id, hwpt_id))) return -1;

  if (failed(() => (hwpt_id = _test_cmd_hwpt_alloc(self, idev_id, ioas_id, 0, IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE, 0n, 0)))) return -1;

  if (failed(() => (viommu_id = _test_cmd_viommu_alloc(self, idev_id, hwpt_id, 0, IOMMU_VIOMMU_TYPE_SELFTEST, 0n, 0)))) return -1;

  if (failed(() => _test_cmd_vdevice_alloc(self, viommu_id, idev_id, 0))) return -1;

  if (failed(() => _test_cmd_hw_queue_alloc(self, viommu_id, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova.v, PAGE_SIZE))) return -1;

  if (failed(() => ([fault_id, fault_fd] = _test_ioctl_fault_alloc(self)))) return -1;
  self.env.proc.close(fault_fd);

  if (failed(() => _test_cmd_hwpt_alloc(self, idev_id, hwpt_id, fault_id, IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size))) return -1;

  if (failed(() => ([, veventq_fd] = _test_cmd_veventq_alloc(self, viommu_id, IOMMU_VEVENTQ_TYPE_SELFTEST, 2)))) return -1;
  self.env.proc.close(veventq_fd);

  if (failed(() => (test_hwpt_id = _test_cmd_hwpt_alloc(self, idev_id, ioas_id, 0, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE, 0n, 0)))) return -1;

  // Tests for pasid attach/replace/detach

  self.pasid = 200;

  if (failed(() => _test_cmd_pasid_attach(self, self.stdev_id, self.pasid, hwpt_id))) {
    self.pasid = 0;
    return -1;
  }

  if (failed(() => _test_cmd_pasid_replace(self, self.stdev_id, self.pasid, test_hwpt_id))) return -1;

  if (failed(() => _test_cmd_pasid_detach(self, self.stdev_id, self.pasid))) return -1;

  self.pasid = 0;

  return 0;
});
