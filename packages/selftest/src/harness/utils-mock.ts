// iommufd_utils.h, part 2: mock devices, HWPT allocation and invalidation, hw_info, IOTLB/cache checks.
import {
  IOMMU_GET_HW_INFO,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_INVALIDATE,
} from '@iommu-lab/iommu-core';
import type { ErrnoName } from '@iommu-lab/platform';
import {
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HWPT_DATA_SELFTEST,
  iommu_hwpt_selftest,
  IOMMU_TEST_CMD,
  IOMMU_TEST_OP_DEV_CHECK_CACHE,
  IOMMU_TEST_OP_MD_CHECK_IOTLB,
  IOMMU_TEST_OP_MD_CHECK_MAP,
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
  MOCK_DEV_CACHE_NUM,
  MOCK_NESTED_DOMAIN_IOTLB_NUM,
} from '../uapi/iommufd-test.js';
import type { SelfBase } from './env.js';
import { AssertionFailed, ASSERT_EQ, EXPECT_ERRNO } from './harness.js';
import { ioctl } from './utils-ioas.js';

type Num = number | bigint;

/** _test_cmd_mock_domain: returns [stdev_id, hwpt_id, idev_id]. */
export function _test_cmd_mock_domain(self: SelfBase, ioas_id: number): [number, number, number] {
  const cmd = { size: 72, op: IOMMU_TEST_OP_MOCK_DOMAIN, id: ioas_id, mock_domain: { out_stdev_id: 0, out_hwpt_id: 0, out_idev_id: 0 } };
  ioctl(self, IOMMU_TEST_CMD, cmd);
  const m = cmd.mock_domain;
  return [m.out_stdev_id, m.out_hwpt_id, m.out_idev_id];
}
export function test_cmd_mock_domain(self: SelfBase, ioas_id: number): [number, number, number] {
  return _test_cmd_mock_domain(self, ioas_id);
}
export function test_err_mock_domain(self: SelfBase, errno: ErrnoName, ioas_id: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_mock_domain(self, ioas_id));
}

export function _test_cmd_mock_domain_flags(self: SelfBase, ioas_id: number, flags: number): [number, number, number] {
  const f = { out_stdev_id: 0, out_hwpt_id: 0, out_idev_id: 0, dev_flags: flags };
  ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, id: ioas_id, mock_domain_flags: f });
  return [f.out_stdev_id, f.out_hwpt_id, f.out_idev_id];
}
export function test_cmd_mock_domain_flags(self: SelfBase, ioas_id: number, flags: number): [number, number, number] {
  return _test_cmd_mock_domain_flags(self, ioas_id, flags);
}
export function test_err_mock_domain_flags(self: SelfBase, errno: ErrnoName, ioas_id: number, flags: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_mock_domain_flags(self, ioas_id, flags));
}

/** _test_cmd_mock_domain_replace: returns the pt_id written back. */
export function _test_cmd_mock_domain_replace(self: SelfBase, stdev_id: number, pt_id: number): number {
  const r = { pt_id };
  ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, id: stdev_id, mock_domain_replace: r });
  return r.pt_id;
}
export function test_cmd_mock_domain_replace(self: SelfBase, stdev_id: number, pt_id: number): void {
  _test_cmd_mock_domain_replace(self, stdev_id, pt_id);
}
export function test_err_mock_domain_replace(self: SelfBase, errno: ErrnoName, stdev_id: number, pt_id: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_mock_domain_replace(self, stdev_id, pt_id));
}

/** _test_cmd_hwpt_alloc: data is a user address (0n for NULL). Returns out_hwpt_id. */
export function _test_cmd_hwpt_alloc(self: SelfBase, device_id: number, pt_id: number, ft_id: number, flags: number, data_type: number, data: bigint, data_len: number): number {
  const cmd = { size: 48, flags, dev_id: device_id, pt_id, data_type, data_len, data_uptr: data, fault_id: ft_id, out_hwpt_id: 0 };
  ioctl(self, IOMMU_HWPT_ALLOC, cmd);
  return cmd.out_hwpt_id;
}
export function test_cmd_hwpt_alloc(self: SelfBase, device_id: number, pt_id: number, flags: number): number {
  return _test_cmd_hwpt_alloc(self, device_id, pt_id, 0, flags, IOMMU_HWPT_DATA_NONE, 0n, 0);
}
export function test_err_hwpt_alloc(self: SelfBase, errno: ErrnoName, device_id: number, pt_id: number, flags: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_hwpt_alloc(self, device_id, pt_id, 0, flags, IOMMU_HWPT_DATA_NONE, 0n, 0));
}
/** test_cmd_hwpt_alloc_iommupt: a mock paging HWPT of a given page-table type. */
export function test_cmd_hwpt_alloc_iommupt(self: SelfBase, device_id: number, pt_id: number, flags: number, iommupt_type: number): number {
  const data = userStruct(self, iommu_hwpt_selftest.encode({ pagetable_type: iommupt_type }));
  return _test_cmd_hwpt_alloc(self, device_id, pt_id, 0, flags, IOMMU_HWPT_DATA_SELFTEST, data, iommu_hwpt_selftest.size);
}
export function test_cmd_hwpt_alloc_nested(self: SelfBase, device_id: number, pt_id: number, flags: number, data_type: number, data: bigint, data_len: number): number {
  return _test_cmd_hwpt_alloc(self, device_id, pt_id, 0, flags, data_type, data, data_len);
}
export function test_err_hwpt_alloc_nested(self: SelfBase, errno: ErrnoName, device_id: number, pt_id: number, flags: number, data_type: number, data: bigint, data_len: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_hwpt_alloc(self, device_id, pt_id, 0, flags, data_type, data, data_len));
}
export function test_cmd_hwpt_alloc_iopf(self: SelfBase, device_id: number, pt_id: number, fault_id: number, flags: number, data_type: number, data: bigint, data_len: number): number {
  return _test_cmd_hwpt_alloc(self, device_id, pt_id, fault_id, flags, data_type, data, data_len);
}
export function test_err_hwpt_alloc_iopf(self: SelfBase, errno: ErrnoName, device_id: number, pt_id: number, fault_id: number, flags: number, data_type: number, data: bigint, data_len: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_hwpt_alloc(self, device_id, pt_id, fault_id, flags, data_type, data, data_len));
}

export function test_cmd_hwpt_check_iotlb(self: SelfBase, hwpt_id: number, iotlb_id: number, expected: number): void {
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_MD_CHECK_IOTLB, id: hwpt_id, check_iotlb: { id: iotlb_id, iotlb: expected } }), `iotlb[${iotlb_id}]`);
}
export function test_cmd_hwpt_check_iotlb_all(self: SelfBase, hwpt_id: number, expected: number): void {
  for (let i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++) test_cmd_hwpt_check_iotlb(self, hwpt_id, i, expected);
}
export function test_cmd_dev_check_cache(self: SelfBase, device_id: number, cache_id: number, expected: number): void {
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_DEV_CHECK_CACHE, id: device_id, check_dev_cache: { id: cache_id, cache: expected } }), `cache[${cache_id}]`);
}
export function test_cmd_dev_check_cache_all(self: SelfBase, device_id: number, expected: number): void {
  for (let c = 0; c < MOCK_DEV_CACHE_NUM; c++) test_cmd_dev_check_cache(self, device_id, c, expected);
}

/** _test_cmd_hwpt_invalidate: nreqs.v is the entry count in and the handled count out (read even on failure). */
export function _test_cmd_hwpt_invalidate(self: SelfBase, hwpt_id: number, reqs: bigint, data_type: number, lreq: number, nreqs: { v: number }): number {
  const cmd = { size: 32, hwpt_id, data_type, data_uptr: reqs, entry_len: lreq, entry_num: nreqs.v };
  try {
    return ioctl(self, IOMMU_HWPT_INVALIDATE, cmd);
  } finally {
    nreqs.v = cmd.entry_num;
  }
}
export function test_cmd_hwpt_invalidate(self: SelfBase, hwpt_id: number, reqs: bigint, data_type: number, lreq: number, nreqs: { v: number }): void {
  ASSERT_EQ(0, _test_cmd_hwpt_invalidate(self, hwpt_id, reqs, data_type, lreq, nreqs));
}
export function test_err_hwpt_invalidate(self: SelfBase, errno: ErrnoName, hwpt_id: number, reqs: bigint, data_type: number, lreq: number, nreqs: { v: number }): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_hwpt_invalidate(self, hwpt_id, reqs, data_type, lreq, nreqs));
}

/** C's assert(): a broken expectation of the test itself aborts it. */
export function assert(cond: unknown, what = 'assert'): void {
  if (!cond) throw new AssertionFailed(`${what} failed`);
}

/**
 * _test_cmd_get_hw_info: data is a user address (0n for NULL) of data_len bytes. Checks what the C
 * helper asserts (type, length, zeroed tail, register values) and returns [capabilities, max_pasid].
 */
export function _test_cmd_get_hw_info(self: SelfBase, device_id: number, data_type: number, data: bigint, data_len: number): [bigint, number] {
  // in_data_type and out_data_type share one union slot: set only the input, the kernel writes the output back.
  const cmd: { size: number; flags: number; dev_id: number; data_len: number; in_data_type: number; data_uptr: bigint; out_capabilities: bigint; out_data_type?: number; out_max_pasid_log2?: number } =
    { size: 40, flags: 0, dev_id: device_id, data_len, in_data_type: data_type, data_uptr: data, out_capabilities: 0n };
  if (data_type !== IOMMU_HW_INFO_TYPE_DEFAULT) cmd.flags |= IOMMU_HW_INFO_FLAG_INPUT_TYPE;
  ioctl(self, IOMMU_GET_HW_INFO, cmd);
  assert(cmd.out_data_type === IOMMU_HW_INFO_TYPE_SELFTEST, 'out_data_type == IOMMU_HW_INFO_TYPE_SELFTEST');
  assert(cmd.data_len === 8, 'data_len == sizeof(struct iommu_test_hw_info)');
  const proc = self.env.proc;
  if (data && data_len > cmd.data_len) {
    const tail = proc.memRead(data + BigInt(cmd.data_len), data_len - cmd.data_len);
    assert(tail.every((b) => b === 0), 'trailing bytes are zero');
  }
  if (data) {
    const got = proc.memRead(data, Math.min(data_len, 8));
    const dv = new DataView(got.buffer);
    if (data_len >= 8) assert(dv.getUint32(4, true) === IOMMU_HW_INFO_SELFTEST_REGVAL, 'test_reg == IOMMU_HW_INFO_SELFTEST_REGVAL');
    if (data_len >= 4) assert(dv.getUint32(0, true) === 0, '!info->flags');
  }
  return [cmd.out_capabilities, cmd.out_max_pasid_log2!];
}
export function test_cmd_get_hw_info(self: SelfBase, device_id: number, data_type: number, data: bigint, data_len: number): void {
  _test_cmd_get_hw_info(self, device_id, data_type, data, data_len);
}
export function test_err_get_hw_info(self: SelfBase, errno: ErrnoName, device_id: number, data_type: number, data: bigint, data_len: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_get_hw_info(self, device_id, data_type, data, data_len));
}
export function test_cmd_get_hw_capabilities(self: SelfBase, device_id: number): bigint {
  return _test_cmd_get_hw_info(self, device_id, IOMMU_HW_INFO_TYPE_DEFAULT, 0n, 0)[0];
}
export function test_cmd_get_hw_info_pasid(self: SelfBase, device_id: number): number {
  return _test_cmd_get_hw_info(self, device_id, IOMMU_HW_INFO_TYPE_DEFAULT, 0n, 0)[1];
}

/** check_mock_iova: every mock page of the IOVA range maps the buffer (MD_CHECK_MAP), in hwpt_id and in hwpt_ids[1] if set. */
export function check_mock_iova(self: SelfBase & { hwpt_id: number; hwpt_ids?: number[] }, ptr: Num, iova: Num, length: Num): void {
  const check_map_cmd = { size: 72, op: IOMMU_TEST_OP_MD_CHECK_MAP, id: self.hwpt_id, check_map: { iova: BigInt(iova), length: BigInt(length), uptr: BigInt(ptr) } };
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, check_map_cmd), 'MD_CHECK_MAP');
  if (self.hwpt_ids?.[1]) {
    check_map_cmd.id = self.hwpt_ids[1];
    ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, check_map_cmd), 'MD_CHECK_MAP hwpt_ids[1]');
  }
}

/** Places bytes in a fresh page of the test process (a C struct on the stack or heap) and returns its address. */
export function userStruct(self: SelfBase, bytes: Uint8Array): bigint {
  const va = self.env.proc.mmap(Math.max(bytes.length, 1));
  self.env.proc.memWrite(va, bytes);
  return va;
}
