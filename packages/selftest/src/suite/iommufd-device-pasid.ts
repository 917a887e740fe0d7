// FIXTURE(iommufd_device_pasid): PASID attach, replace and detach with paging, nested and IOPF-capable HWPTs.
import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_FAULT_ID_VALID } from '@iommu-lab/iommu-core';
import { type SelfBase, selfBase } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_NE, EXPECT_ERRNO } from '../harness/harness.js';
import { test_cmd_trigger_iopf_pasid, test_ioctl_fault_alloc } from '../harness/utils-access.js';
import { teardown_iommufd, test_ioctl_destroy, test_ioctl_ioas_alloc } from '../harness/utils-ioas.js';
import {
  test_cmd_hwpt_alloc,
  test_cmd_hwpt_alloc_iopf,
  test_cmd_hwpt_alloc_nested,
  test_cmd_mock_domain_flags,
  test_cmd_mock_domain_replace,
  test_err_mock_domain_replace,
  userStruct,
} from '../harness/utils-mock.js';
import {
  _test_cmd_pasid_attach,
  test_cmd_pasid_attach,
  test_cmd_pasid_check_hwpt,
  test_cmd_pasid_detach,
  test_cmd_pasid_replace,
  test_err_pasid_attach,
  test_err_pasid_replace,
} from '../harness/utils-pasid.js';
import { test_cmd_viommu_alloc } from '../harness/utils-viommu.js';
import { IOMMU_HWPT_DATA_SELFTEST, iommu_hwpt_selftest, IOMMU_TEST_IOTLB_DEFAULT, IOMMU_VIOMMU_TYPE_SELFTEST, MOCK_FLAGS_DEVICE_PASID } from '../uapi/iommufd-test.js';
import { suite } from './suite.js';

interface Self extends SelfBase {
  ioas_id: number;
  hwpt_id: number;
  stdev_id: number;
  device_id: number;
  no_pasid_stdev_id: number;
  no_pasid_device_id: number;
}

interface Variant {
  pasid_capable: boolean;
}

const F = 'iommufd_device_pasid';

suite.FIXTURE<Self>(F, (m) => ({ ...selfBase(m), ioas_id: 0, hwpt_id: 0, stdev_id: 0, device_id: 0, no_pasid_stdev_id: 0, no_pasid_device_id: 0 }));

suite.FIXTURE_SETUP<Self, Variant>(F, (self, variant) => {
  self.fd = self.env.proc.open('/dev/iommu');
  ASSERT_NE(-1, self.fd);
  self.ioas_id = test_ioctl_ioas_alloc(self);

  [self.stdev_id, self.hwpt_id, self.device_id] = test_cmd_mock_domain_flags(self, self.ioas_id, MOCK_FLAGS_DEVICE_PASID);
  if (!variant.pasid_capable) [self.no_pasid_stdev_id, , self.no_pasid_device_id] = test_cmd_mock_domain_flags(self, self.ioas_id, 0);
});

suite.FIXTURE_TEARDOWN<Self, Variant>(F, (self) => teardown_iommufd(self, self.fd));

suite.FIXTURE_VARIANT_ADD<Variant>(F, 'no_pasid', { pasid_capable: false });

suite.FIXTURE_VARIANT_ADD<Variant>(F, 'has_pasid', { pasid_capable: true });

suite.TEST_F<Self, Variant>(F, 'pasid_attach', (self, variant, m) => {
  const data = userStruct(self, iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT, pagetable_type: 0 }));
  const nested_hwpt_id = [0, 0, 0];
  let pasid = 100;

  // Negative, detach pasid without attaching, this is not expected. But it should not result in failure anyway.
  test_cmd_pasid_detach(self, pasid);

  // Allocate two nested hwpts sharing one common parent hwpt
  const parent_hwpt_id = test_cmd_hwpt_alloc(self, self.device_id, self.ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT);
  nested_hwpt_id[0] = test_cmd_hwpt_alloc_nested(self, self.device_id, parent_hwpt_id, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size);
  nested_hwpt_id[1] = test_cmd_hwpt_alloc_nested(self, self.device_id, parent_hwpt_id, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size);

  // Fault related preparation
  const [fault_id, fault_fd] = test_ioctl_fault_alloc(self);
  const iopf_hwpt_id = test_cmd_hwpt_alloc_iopf(self, self.device_id, parent_hwpt_id, fault_id, IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size);

  // Allocate a regular nested hwpt based on viommu
  const viommu_id = test_cmd_viommu_alloc(self, self.device_id, parent_hwpt_id, IOMMU_VIOMMU_TYPE_SELFTEST, 0n, 0);
  nested_hwpt_id[2] = test_cmd_hwpt_alloc_nested(self, self.device_id, viommu_id, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size);

  const s2_hwpt_id = test_cmd_hwpt_alloc(self, self.device_id, self.ioas_id, IOMMU_HWPT_ALLOC_PASID);

  // Attach RID to non-pasid compat domain,
  test_cmd_mock_domain_replace(self, self.stdev_id, parent_hwpt_id);
  // then attach to pasid should fail
  test_err_pasid_attach(self, 'EINVAL', pasid, s2_hwpt_id);

  // Attach RID to pasid compat domain,
  test_cmd_mock_domain_replace(self, self.stdev_id, s2_hwpt_id);
  // then attach to pasid should succeed,
  test_cmd_pasid_attach(self, pasid, nested_hwpt_id[0]);
  // but attach RID to non-pasid compat domain should fail now.
  test_err_mock_domain_replace(self, 'EINVAL', self.stdev_id, parent_hwpt_id);
  // Detach hwpt from pasid 100, and check if the pasid 100 has null domain.
  test_cmd_pasid_detach(self, pasid);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, 0));
  // RID is attached to pasid-comapt domain, pasid path is not used

  if (!variant.pasid_capable) {
    // PASID-compatible domain can be used by non-PASID-capable device.
    test_cmd_mock_domain_replace(self, self.no_pasid_stdev_id, nested_hwpt_id[0]);
    test_cmd_mock_domain_replace(self, self.no_pasid_stdev_id, self.ioas_id);
    // Attach hwpt to pasid 100 of non-PASID-capable device, should fail, no matter domain is pasid-comapt or not.
    EXPECT_ERRNO(m, 'EINVAL', () => _test_cmd_pasid_attach(self, self.no_pasid_stdev_id, pasid, parent_hwpt_id));
    EXPECT_ERRNO(m, 'EINVAL', () => _test_cmd_pasid_attach(self, self.no_pasid_stdev_id, pasid, s2_hwpt_id));
  }

  // Attach non pasid compat hwpt to pasid-capable device, should fail, and have null domain.
  test_err_pasid_attach(self, 'EINVAL', pasid, parent_hwpt_id);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, 0));

  // Attach ioas to pasid 100, should fail, domain should be null.
  test_err_pasid_attach(self, 'EINVAL', pasid, self.ioas_id);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, 0));

  // Attach the s2_hwpt to pasid 100, should succeed, domain should be valid.
  test_cmd_pasid_attach(self, pasid, s2_hwpt_id);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, s2_hwpt_id));

  // Try attach pasid 100 with another hwpt, should FAIL as attach does not allow overwrite, use REPLACE instead.
  test_err_pasid_attach(self, 'EBUSY', pasid, nested_hwpt_id[0]);

  // Detach hwpt from pasid 100 for next test, should succeed, and have null domain.
  test_cmd_pasid_detach(self, pasid);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, 0));

  // Attach nested hwpt to pasid 100, should succeed, domain should be valid.
  test_cmd_pasid_attach(self, pasid, nested_hwpt_id[0]);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, nested_hwpt_id[0]));

  // Attach to pasid 100 which has been attached, should fail.
  test_err_pasid_attach(self, 'EBUSY', pasid, nested_hwpt_id[0]);

  // cleanup pasid 100
  test_cmd_pasid_detach(self, pasid);

  // Replace tests

  pasid = 200;
  // Replace pasid 200 without attaching it, should fail with -EINVAL.
  test_err_pasid_replace(self, 'EINVAL', pasid, s2_hwpt_id);

  // Attach the s2 hwpt to pasid 200, should succeed, domain should be valid.
  test_cmd_pasid_attach(self, pasid, s2_hwpt_id);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, s2_hwpt_id));

  // Replace pasid 200 with self->ioas_id, should fail and domain should be the prior s2 hwpt.
  test_err_pasid_replace(self, 'EINVAL', pasid, self.ioas_id);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, s2_hwpt_id));

  // Replace a nested hwpt for pasid 200, should succeed, and have valid domain.
  test_cmd_pasid_replace(self, pasid, nested_hwpt_id[0]);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, nested_hwpt_id[0]));

  // Replace with another nested hwpt for pasid 200, should succeed, and have valid domain.
  test_cmd_pasid_replace(self, pasid, nested_hwpt_id[1]);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, nested_hwpt_id[1]));

  // cleanup pasid 200
  test_cmd_pasid_detach(self, pasid);

  // Negative Tests for pasid replace, use pasid 1024

  // Attach the s2 hwpt to pasid 1024, should succeed, domain should be valid.
  pasid = 1024;
  test_cmd_pasid_attach(self, pasid, s2_hwpt_id);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, s2_hwpt_id));

  // Replace pasid 1024 with nested_hwpt_id[0], should fail, but have the old valid domain. This is a designed
  // negative case. Normally, this shall succeed.
  test_err_pasid_replace(self, 'ENOMEM', pasid, nested_hwpt_id[0]);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, s2_hwpt_id));

  // cleanup pasid 1024
  test_cmd_pasid_detach(self, pasid);

  // Attach to iopf-capable hwpt

  // Attach an iopf hwpt to pasid 2048, should succeed, domain should be valid.
  pasid = 2048;
  test_cmd_pasid_attach(self, pasid, iopf_hwpt_id);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, iopf_hwpt_id));

  test_cmd_trigger_iopf_pasid(self, self.device_id, pasid, fault_fd);

  // Replace with s2_hwpt_id for pasid 2048, should succeed, and have valid domain.
  test_cmd_pasid_replace(self, pasid, s2_hwpt_id);
  ASSERT_EQ(0, test_cmd_pasid_check_hwpt(self, self.stdev_id, pasid, s2_hwpt_id));

  // cleanup pasid 2048
  test_cmd_pasid_detach(self, pasid);

  test_ioctl_destroy(self, iopf_hwpt_id);
  self.env.proc.close(fault_fd);
  test_ioctl_destroy(self, fault_id);

  // Detach the s2_hwpt_id from RID
  test_cmd_mock_domain_replace(self, self.stdev_id, self.ioas_id);
});
