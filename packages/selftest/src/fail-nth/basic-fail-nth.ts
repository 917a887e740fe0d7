// FIXTURE(basic_fail_nth) of iommufd_fail_nth.c: the fixture and the ioas.c and domain-fill sweeps.
import {
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  iommu_ioas_allow_iovas,
  iommu_ioas_copy,
  iommu_ioas_iova_ranges,
  iommu_iova_range,
} from '@iommu-lab/iommu-core';
import { EXPECT_EQ, errnoOf } from '../harness/harness.js';
import type { SelfBase } from '../harness/env.js';
import { _test_cmd_destroy_access } from '../harness/utils-access.js';
import { _test_cmd_mock_domain, assert } from '../harness/utils-mock.js';
import { _test_cmd_pasid_detach } from '../harness/utils-pasid.js';
import {
  _test_ioctl_destroy,
  _test_ioctl_ioas_alloc,
  _test_ioctl_ioas_map,
  _test_ioctl_ioas_map_file,
  _test_ioctl_ioas_unmap,
  _test_ioctl_set_temp_memory_limit,
  ioctl,
  UserArray,
} from '../harness/utils-ioas.js';
import { IOMMU_TEST_CMD, IOMMU_TEST_OP_MD_CHECK_REFS } from '../uapi/iommufd-test.js';
import { BUFFER_SIZE, failNthEnv, StackFrame } from './env.js';
import { checkedProcess, EXPECT_BASELINE, failed, fail_nth_enable, hostBaseline, TEST_FAIL_NTH } from './fail-nth.js';
import { failNthSuite } from './suite.js';

export interface Self extends SelfBase {
  access_id: number;
  stdev_id: number;
  pasid: number;
  /** The test's stack, for locals an ioctl reads or writes. */
  stack: bigint;
  /** The host as the fixture found it: every teardown must return to it. */
  baseline: string[];
}

export const F = 'basic_fail_nth';
const RW = IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

/** teardown_iommufd with this file's BUFFER_SIZE: close, reopen, no page of `buffer` still pinned. */
export function teardown_iommufd(self: SelfBase, fd: number): void {
  const m = self._metadata;
  const proc = self.env.proc;
  const test_cmd = { size: 72, op: IOMMU_TEST_OP_MD_CHECK_REFS, check_refs: { length: BigInt(BUFFER_SIZE), uptr: self.env.buffer, refs: 0 } };
  if (fd === -1) return;
  EXPECT_EQ(m, null, errnoOf(() => proc.close(fd)), 'close');
  let again = -1;
  EXPECT_EQ(m, null, errnoOf(() => (again = proc.open('/dev/iommu'))), 'open');
  EXPECT_EQ(m, true, again !== -1, 'fd != -1');
  EXPECT_EQ(m, null, errnoOf(() => proc.ioctl(again, IOMMU_TEST_CMD, test_cmd)), 'MD_CHECK_REFS');
  EXPECT_EQ(m, null, errnoOf(() => proc.close(again)), 'close');
}

failNthSuite.FIXTURE<Self>(F, (m) => {
  const env = failNthEnv();
  return { env: { ...env, proc: checkedProcess(env, m) }, _metadata: m, fd: -1, access_id: 0, stdev_id: 0, pasid: 0, stack: env.stack, baseline: hostBaseline(env) };
});

failNthSuite.FIXTURE_SETUP<Self, object>(F, (self) => {
  self.fd = -1;
  self.access_id = 0;
  self.stdev_id = 0;
  self.pasid = 0; // test should use a non-zero value
});

failNthSuite.FIXTURE_TEARDOWN<Self, object>(F, (self, _v, _metadata) => {
  if (self.access_id) {
    // The access FD holds the iommufd open until it closes
    const rc = _test_cmd_destroy_access(self, self.access_id);
    assert(rc === 0, 'rc == 0');
  }
  if (self.pasid && self.stdev_id) errnoOf(() => _test_cmd_pasid_detach(self, self.stdev_id, self.pasid));
  teardown_iommufd(self, self.fd);
  EXPECT_BASELINE(_metadata, self.env, self.baseline);
});

// Cover ioas.c
TEST_FAIL_NTH<Self>(failNthSuite, F, 'basic', (_metadata, self, _variant, _nth_state) => {
  const sp = new StackFrame(self.stack);
  const ranges = new UserArray(self, iommu_iova_range, sp.alloca(10 * iommu_iova_range.size));
  let ioas_id = 0;
  const iova = { v: 0n };

  fail_nth_enable(_nth_state);

  if (failed(() => (self.fd = self.env.proc.open('/dev/iommu')))) return -1;

  if (failed(() => (ioas_id = _test_ioctl_ioas_alloc(self)))) return -1;

  {
    const ranges_cmd = { size: iommu_ioas_iova_ranges.size, ioas_id, num_iovas: 10, __reserved: 0, allowed_iovas: ranges.uptr, out_iova_alignment: 0n };
    if (failed(() => ioctl(self, IOMMU_IOAS_IOVA_RANGES, ranges_cmd))) return -1;
  }

  {
    const allow_cmd = { size: iommu_ioas_allow_iovas.size, ioas_id, num_iovas: 1, __reserved: 0, allowed_iovas: ranges.uptr };

    ranges.set(0, { start: 16n * 1024n, last: BigInt(BUFFER_SIZE + 16 * 1024 * 600 - 1) });
    if (failed(() => ioctl(self, IOMMU_IOAS_ALLOW_IOVAS, allow_cmd))) return -1;
  }

  if (failed(() => _test_ioctl_ioas_map(self, ioas_id, self.env.buffer, BUFFER_SIZE, iova, RW))) return -1;

  {
    const copy_cmd = {
      size: iommu_ioas_copy.size,
      flags: RW,
      dst_ioas_id: ioas_id,
      src_ioas_id: ioas_id,
      length: BigInt(10 * iommu_iova_range.size),
      dst_iova: 0n,
      src_iova: iova.v,
    };

    if (failed(() => ioctl(self, IOMMU_IOAS_COPY, copy_cmd))) return -1;
  }

  if (failed(() => _test_ioctl_ioas_unmap(self, ioas_id, iova.v, BUFFER_SIZE))) return -1;
  // Failure path of no IOVA to unmap
  errnoOf(() => _test_ioctl_ioas_unmap(self, ioas_id, iova.v, BUFFER_SIZE));
  return 0;
});

// iopt_area_fill_domains() and iopt_area_fill_domain()
TEST_FAIL_NTH<Self>(failNthSuite, F, 'map_domain', (_metadata, self, _variant, _nth_state) => {
  let ioas_id = 0;
  let stdev_id = 0;
  const iova = { v: 0n };

  if (failed(() => (self.fd = self.env.proc.open('/dev/iommu')))) return -1;

  if (failed(() => (ioas_id = _test_ioctl_ioas_alloc(self)))) return -1;

  if (failed(() => _test_ioctl_set_temp_memory_limit(self, 32))) return -1;

  fail_nth_enable(_nth_state);

  if (failed(() => ([stdev_id] = _test_cmd_mock_domain(self, ioas_id)))) return -1;

  if (failed(() => _test_ioctl_ioas_map(self, ioas_id, self.env.buffer, 262144, iova, RW))) return -1;

  if (failed(() => _test_ioctl_destroy(self, stdev_id))) return -1;

  if (failed(() => ([stdev_id] = _test_cmd_mock_domain(self, ioas_id)))) return -1;
  return 0;
});

// iopt_area_fill_domains() and iopt_area_fill_domain()
TEST_FAIL_NTH<Self>(failNthSuite, F, 'map_file_domain', (_metadata, self, _variant, _nth_state) => {
  let ioas_id = 0;
  let stdev_id = 0;
  const iova = { v: 0n };

  if (failed(() => (self.fd = self.env.proc.open('/dev/iommu')))) return -1;

  if (failed(() => (ioas_id = _test_ioctl_ioas_alloc(self)))) return -1;

  if (failed(() => _test_ioctl_set_temp_memory_limit(self, 32))) return -1;

  fail_nth_enable(_nth_state);

  if (failed(() => ([stdev_id] = _test_cmd_mock_domain(self, ioas_id)))) return -1;

  if (failed(() => _test_ioctl_ioas_map_file(self, ioas_id, self.env.mfd, 0, 262144, iova, RW))) return -1;

  if (failed(() => _test_ioctl_destroy(self, stdev_id))) return -1;

  if (failed(() => ([stdev_id] = _test_cmd_mock_domain(self, ioas_id)))) return -1;
  return 0;
});

TEST_FAIL_NTH<Self>(failNthSuite, F, 'map_two_domains', (_metadata, self, _variant, _nth_state) => {
  let ioas_id = 0;
  let stdev_id2 = 0;
  let stdev_id = 0;
  const iova = { v: 0n };

  if (failed(() => (self.fd = self.env.proc.open('/dev/iommu')))) return -1;

  if (failed(() => (ioas_id = _test_ioctl_ioas_alloc(self)))) return -1;

  if (failed(() => _test_ioctl_set_temp_memory_limit(self, 32))) return -1;

  if (failed(() => ([stdev_id] = _test_cmd_mock_domain(self, ioas_id)))) return -1;

  fail_nth_enable(_nth_state);

  if (failed(() => ([stdev_id2] = _test_cmd_mock_domain(self, ioas_id)))) return -1;

  if (failed(() => _test_ioctl_ioas_map(self, ioas_id, self.env.buffer, 262144, iova, RW))) return -1;

  if (failed(() => _test_ioctl_destroy(self, stdev_id))) return -1;

  if (failed(() => _test_ioctl_destroy(self, stdev_id2))) return -1;

  if (failed(() => ([stdev_id] = _test_cmd_mock_domain(self, ioas_id)))) return -1;
  if (failed(() => ([stdev_id2] = _test_cmd_mock_domain(self, ioas_id)))) return -1;
  return 0;
});
