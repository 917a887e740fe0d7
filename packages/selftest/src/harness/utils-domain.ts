// iommufd_utils.h, part 3: memfd_mmap and the access helpers; the ASSERT_GE/GT/LT comparisons of kselftest_harness.h.
import type { MmapOptions } from '@iommu-lab/platform';
import {
  IOMMU_TEST_CMD,
  IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
  IOMMU_TEST_OP_CREATE_ACCESS,
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
} from '../uapi/iommufd-test.js';
import type { SelfBase } from './env.js';
import { AssertionFailed, ASSERT_EQ } from './harness.js';
import { ioctl } from './utils-ioas.js';

type Num = number | bigint;

/** What mmap() returns on failure; our mmap throws instead, so a returned address never equals it. */
export const MAP_FAILED = (1n << 64n) - 1n;

function cmp(op: string, expected: Num, seen: Num, ok: boolean, what: string): void {
  if (!ok) throw new AssertionFailed(`ASSERT_${op} ${what}: expected ${expected} ${op} ${seen}`);
}
export function ASSERT_GE(expected: Num, seen: Num, what = ''): void {
  cmp('GE', expected, seen, BigInt(expected) >= BigInt(seen), what);
}
export function ASSERT_GT(expected: Num, seen: Num, what = ''): void {
  cmp('GT', expected, seen, BigInt(expected) > BigInt(seen), what);
}
export function ASSERT_LT(expected: Num, seen: Num, what = ''): void {
  cmp('LT', expected, seen, BigInt(expected) < BigInt(seen), what);
}

/** memfd_mmap: a memfd of `length` bytes (hugetlb when flags.hugetlb) mapped with flags; mfd_p.v receives the fd. */
export function memfd_mmap(self: SelfBase, length: number, prot: string, flags: MmapOptions, mfd_p: { v: number }): bigint {
  const proc = self.env.proc;
  const mfd = proc.memfdCreate('buffer', { hugetlb: flags.hugetlb });
  try {
    proc.ftruncate(mfd, length);
    mfd_p.v = mfd;
    return proc.mmap(length, { ...flags, prot, fd: mfd });
  } catch (e) {
    proc.close(mfd);
    throw e;
  }
}

export function _test_cmd_create_access(self: SelfBase, ioas_id: number, flags: number): number {
  const cmd = { size: 72, op: IOMMU_TEST_OP_CREATE_ACCESS, id: ioas_id, create_access: { flags, out_access_fd: 0 } };
  ioctl(self, IOMMU_TEST_CMD, cmd);
  return cmd.create_access.out_access_fd;
}
/** test_cmd_create_access: returns the access fd. */
export function test_cmd_create_access(self: SelfBase, ioas_id: number, flags: number): number {
  return _test_cmd_create_access(self, ioas_id, flags);
}

export function _test_cmd_access_replace_ioas(self: SelfBase, access_id: number, ioas_id: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, id: access_id, access_replace_ioas: { ioas_id } });
}
export function test_cmd_access_replace_ioas(self: SelfBase, access_id: number, ioas_id: number): void {
  ASSERT_EQ(0, _test_cmd_access_replace_ioas(self, access_id, ioas_id), 'ACCESS_REPLACE_IOAS');
}

/** _test_cmd_destroy_access: the access is its fd; closing it destroys it. */
export function _test_cmd_destroy_access(self: SelfBase, access_id: number): void {
  self.env.proc.close(access_id);
}
export function test_cmd_destroy_access(self: SelfBase, access_id: number): void {
  _test_cmd_destroy_access(self, access_id);
}

export function _test_cmd_destroy_access_pages(self: SelfBase, access_id: number, access_pages_id: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, id: access_id, destroy_access_pages: { access_pages_id } });
}
export function test_cmd_destroy_access_pages(self: SelfBase, access_id: number, access_pages_id: number): void {
  ASSERT_EQ(0, _test_cmd_destroy_access_pages(self, access_id, access_pages_id), 'DESTROY_ACCESS_PAGES');
}

/**
 * rand() of a fresh test process (glibc, never seeded = srand(1)): the TYPE_3 additive feedback
 * generator, r[i] = r[i-3] + r[i-31], seeded by 16807 * r[i-1] mod (2^31 - 1), the first 310 outputs dropped.
 */
export function glibc_rand(): () => number {
  const r: number[] = [1];
  for (let i = 1; i < 31; i++) {
    const hi = Math.floor(r[i - 1]! / 127773);
    const lo = r[i - 1]! % 127773;
    let word = 16807 * lo - 2836 * hi;
    if (word < 0) word += 2147483647;
    r.push(word);
  }
  for (let i = 31; i < 34; i++) r.push(r[i - 31]!);
  for (let i = 34; i < 344; i++) r.push((r[i - 31]! + r[i - 3]!) >>> 0);
  return () => {
    const i = r.length;
    r.push((r[i - 31]! + r[i - 3]!) >>> 0);
    return r[i]! >>> 1;
  };
}
