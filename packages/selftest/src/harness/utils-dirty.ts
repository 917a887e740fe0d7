// iommufd_utils.h, part 3: dirty tracking and the mock domain's dirty bitmaps.
import {
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
  IOMMU_HWPT_GET_DIRTY_BITMAP,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_HWPT_SET_DIRTY_TRACKING,
} from '@iommu-lab/iommu-core';
import { IOMMU_TEST_CMD, IOMMU_TEST_OP_DIRTY } from '../uapi/iommufd-test.js';
import type { SelfBase } from './env.js';
import { ASSERT_EQ } from './harness.js';
import { ioctl } from './utils-ioas.js';

type Num = number | bigint;

export const BITS_PER_BYTE = 8;

export function DIV_ROUND_UP(n: number, d: number): number {
  return Math.floor((n + d - 1) / d);
}

/** set_bit on a little-endian unsigned long bitmap: bit nr is bit nr % 8 of byte nr / 8. */
export function set_bit(nr: number, addr: Uint8Array): void {
  addr[nr >> 3] = addr[nr >> 3]! | (1 << (nr & 7));
}

export function test_bit(nr: number, addr: Uint8Array): boolean {
  return ((addr[nr >> 3]! >> (nr & 7)) & 1) === 1;
}

/** memset(ptr, c, n) on the test process's memory. */
export function memset(self: SelfBase, ptr: bigint, c: number, n: number): void {
  self.env.proc.memWrite(ptr, new Uint8Array(n).fill(c));
}

export function _test_cmd_set_dirty_tracking(self: SelfBase, hwpt_id: number, enabled: boolean): number {
  const cmd = { size: 16, flags: enabled ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0, hwpt_id, __reserved: 0 };
  return ioctl(self, IOMMU_HWPT_SET_DIRTY_TRACKING, cmd);
}
export function test_cmd_set_dirty_tracking(self: SelfBase, hwpt_id: number, enabled: boolean): void {
  ASSERT_EQ(0, _test_cmd_set_dirty_tracking(self, hwpt_id, enabled), 'SET_DIRTY_TRACKING');
}

/** _test_cmd_get_dirty_bitmap: bitmap is a user address. */
export function _test_cmd_get_dirty_bitmap(self: SelfBase, hwpt_id: number, length: Num, iova: Num, page_size: Num, bitmap: bigint, flags: number): number {
  const cmd = { size: 48, hwpt_id, flags, __reserved: 0, iova: BigInt(iova), length: BigInt(length), page_size: BigInt(page_size), data: bitmap };
  return ioctl(self, IOMMU_HWPT_GET_DIRTY_BITMAP, cmd);
}
export function test_cmd_get_dirty_bitmap(self: SelfBase, hwpt_id: number, length: Num, iova: Num, page_size: Num, bitmap: bigint, flags: number): void {
  ASSERT_EQ(0, _test_cmd_get_dirty_bitmap(self, hwpt_id, length, iova, page_size, bitmap, flags), 'GET_DIRTY_BITMAP');
}

/** _test_cmd_mock_domain_set_dirty: returns out_nr_dirty. */
export function _test_cmd_mock_domain_set_dirty(self: SelfBase, hwpt_id: number, length: Num, iova: Num, page_size: Num, bitmap: bigint): bigint {
  const dirty = { flags: 0, iova: BigInt(iova), length: BigInt(length), page_size: BigInt(page_size), uptr: bitmap, out_nr_dirty: 0n };
  ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_DIRTY, id: hwpt_id, dirty });
  return dirty.out_nr_dirty;
}
export function test_cmd_mock_domain_set_dirty(self: SelfBase, hwpt_id: number, length: Num, iova: Num, page_size: Num, bitmap: bigint): bigint {
  return _test_cmd_mock_domain_set_dirty(self, hwpt_id, length, iova, page_size, bitmap);
}

/**
 * _test_mock_dirty_bitmaps: marks the first IOPTE of every pair dirty through the mock, then
 * expects GET_DIRTY_BITMAP to report whole IOPTEs (pte_page_size / page_size bits each), and a
 * second read to report nothing unless NO_CLEAR.
 */
export function test_mock_dirty_bitmaps(self: SelfBase, hwpt_id: number, length: Num, iova: Num, page_size: number, pte_page_size: number, bitmap: bigint, nbits: number, flags: number): void {
  const proc = self.env.proc;
  const npte = pte_page_size / page_size;
  const pteset = 2 * npte;
  const nr = Math.floor(nbits / pteset) || 1;
  const bitmap_size = DIV_ROUND_UP(nbits, BITS_PER_BYTE);
  let bits: Uint8Array = new Uint8Array(bitmap_size);

  // Mark all even bits as dirty in the mock domain
  memset(self, bitmap, 0, bitmap_size);
  for (let i = 0; i < nbits; i += pteset) set_bit(i, bits);
  proc.memWrite(bitmap, bits);

  const out_dirty = test_cmd_mock_domain_set_dirty(self, hwpt_id, length, iova, page_size, bitmap);
  ASSERT_EQ(nr, out_dirty, 'out_nr_dirty');

  // Expect all even bits as dirty in the user bitmap
  memset(self, bitmap, 0, bitmap_size);
  test_cmd_get_dirty_bitmap(self, hwpt_id, length, iova, page_size, bitmap, flags);
  bits = proc.memRead(bitmap, bitmap_size);
  for (let i = 0; i < nbits; i += pteset) {
    for (let j = 0; j < pteset; j++) ASSERT_EQ(j < npte, test_bit(i + j, bits), `bit ${i + j}`);
    ASSERT_EQ(!(i % pteset), test_bit(i, bits), `bit ${i}`);
  }

  memset(self, bitmap, 0, bitmap_size);
  test_cmd_get_dirty_bitmap(self, hwpt_id, length, iova, page_size, bitmap, flags);
  bits = proc.memRead(bitmap, bitmap_size);

  // It as read already -- expect all zeroes
  for (let i = 0; i < nbits; i += pteset) {
    for (let j = 0; j < pteset; j++) {
      ASSERT_EQ(j < npte && (flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0, test_bit(i + j, bits), `bit ${i + j} after a second read`);
    }
  }
}
