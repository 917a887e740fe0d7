// iommufd_utils.h, part 1: the IOAS, destroy and memory-limit helpers.
import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
} from '@iommu-lab/iommu-core';
import type { ErrnoName, Process, StructCodec } from '@iommu-lab/platform';
import { IOMMU_TEST_CMD, IOMMU_TEST_OP_MD_CHECK_REFS, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT } from '../uapi/iommufd-test.js';
import { BUFFER_SIZE, type SelfBase } from './env.js';
import { ASSERT_EQ, ASSERT_NE, EXPECT_EQ, EXPECT_ERRNO, errnoOf } from './harness.js';

type Num = number | bigint;

/** enum iopt_pages_account_mode, as iommufd_utils.h copies it. */
export const IOPT_PAGES_ACCOUNT_NONE = 0;
export const IOPT_PAGES_ACCOUNT_USER = 1;
export const IOPT_PAGES_ACCOUNT_MM = 2;

const RW = IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

export function ioctl(self: SelfBase, request: number, arg?: unknown, fd = self.fd): number {
  return self.env.proc.ioctl(fd, request, arg as never);
}

/** The same fixture seen from another process (after fork(), the helpers' ioctls are the child's). */
export function inProcess<S extends SelfBase>(self: S, proc: Process): S {
  return { ...self, env: Object.assign(Object.create(Object.getPrototypeOf(self.env) as object) as object, self.env, { proc }) };
}

/** A C array of structs in the test process's memory (a local array whose address the ioctl gets). */
export class UserArray<T extends object> {
  constructor(
    private readonly self: SelfBase,
    private readonly codec: StructCodec<T>,
    /** The array's user address. */
    readonly uptr: bigint,
  ) {}

  /** Allocates a zeroed array of n elements. */
  static alloc<T extends object>(self: SelfBase, codec: StructCodec<T>, n: number): UserArray<T> {
    return new UserArray(self, codec, self.env.proc.mmap(Math.max(codec.size * n, 1)));
  }

  get(i: number): T {
    return this.codec.decode(this.self.env.proc.memRead(this.addr(i), this.codec.size));
  }

  /** Assigns the given fields of element i, keeping the others. */
  set(i: number, fields: Partial<T>): void {
    this.self.env.proc.memWrite(this.addr(i), this.codec.encode({ ...this.get(i), ...fields }));
  }

  private addr(i: number): bigint {
    return this.uptr + BigInt(i * this.codec.size);
  }
}

export function _test_ioctl_destroy(self: SelfBase, id: number): number {
  return ioctl(self, IOMMU_DESTROY, { size: 8, id });
}
export function test_ioctl_destroy(self: SelfBase, id: number): void {
  ASSERT_EQ(0, _test_ioctl_destroy(self, id), `destroy ${id}`);
}
export function test_err_ioctl_destroy(self: SelfBase, errno: ErrnoName, id: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_ioctl_destroy(self, id));
}

export function _test_ioctl_ioas_alloc(self: SelfBase): number {
  const cmd = { size: 12, flags: 0, out_ioas_id: 0 };
  ioctl(self, IOMMU_IOAS_ALLOC, cmd);
  return cmd.out_ioas_id;
}
export function test_ioctl_ioas_alloc(self: SelfBase): number {
  const id = _test_ioctl_ioas_alloc(self);
  ASSERT_NE(0, id, 'ioas id');
  return id;
}

/** _test_ioctl_ioas_map: returns the IOVA written back (also on failure, as the C helper reads it). */
export function _test_ioctl_ioas_map(self: SelfBase, ioas_id: number, buffer: Num, length: Num, iova: { v: bigint }, flags: number): void {
  const cmd = { size: 40, flags, ioas_id, user_va: BigInt(buffer), length: BigInt(length), iova: flags & IOMMU_IOAS_MAP_FIXED_IOVA ? iova.v : 0n };
  try {
    ioctl(self, IOMMU_IOAS_MAP, cmd);
  } finally {
    iova.v = cmd.iova;
  }
}

export function test_ioctl_ioas_map(self: SelfBase & { ioas_id: number }, buffer: Num, length: Num): bigint {
  const iova = { v: 0n };
  _test_ioctl_ioas_map(self, self.ioas_id, buffer, length, iova, RW);
  return iova.v;
}
export function test_err_ioctl_ioas_map(self: SelfBase & { ioas_id: number }, errno: ErrnoName, buffer: Num, length: Num): bigint {
  const iova = { v: 0n };
  EXPECT_ERRNO(self._metadata, errno, () => _test_ioctl_ioas_map(self, self.ioas_id, buffer, length, iova, RW));
  return iova.v;
}
export function test_ioctl_ioas_map_id(self: SelfBase, ioas_id: number, buffer: Num, length: Num): bigint {
  const iova = { v: 0n };
  _test_ioctl_ioas_map(self, ioas_id, buffer, length, iova, RW);
  return iova.v;
}
export function test_ioctl_ioas_map_fixed(self: SelfBase & { ioas_id: number }, buffer: Num, length: Num, iova: Num): void {
  _test_ioctl_ioas_map(self, self.ioas_id, buffer, length, { v: BigInt(iova) }, IOMMU_IOAS_MAP_FIXED_IOVA | RW);
}
export function test_ioctl_ioas_map_fixed_id(self: SelfBase, ioas_id: number, buffer: Num, length: Num, iova: Num): void {
  _test_ioctl_ioas_map(self, ioas_id, buffer, length, { v: BigInt(iova) }, IOMMU_IOAS_MAP_FIXED_IOVA | RW);
}
export function test_err_ioctl_ioas_map_fixed(self: SelfBase & { ioas_id: number }, errno: ErrnoName, buffer: Num, length: Num, iova: Num): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_ioctl_ioas_map(self, self.ioas_id, buffer, length, { v: BigInt(iova) }, IOMMU_IOAS_MAP_FIXED_IOVA | RW));
}

/** _test_ioctl_ioas_unmap: out_len receives the unmapped length written back. */
export function _test_ioctl_ioas_unmap(self: SelfBase, ioas_id: number, iova: Num, length: Num, out?: { v: bigint }): number {
  const cmd = { size: 24, ioas_id, iova: BigInt(iova), length: BigInt(length) };
  try {
    return ioctl(self, IOMMU_IOAS_UNMAP, cmd);
  } finally {
    if (out) out.v = cmd.length;
  }
}
export function test_ioctl_ioas_unmap(self: SelfBase & { ioas_id: number }, iova: Num, length: Num): void {
  ASSERT_EQ(0, _test_ioctl_ioas_unmap(self, self.ioas_id, iova, length));
}
export function test_ioctl_ioas_unmap_id(self: SelfBase, ioas_id: number, iova: Num, length: Num): void {
  ASSERT_EQ(0, _test_ioctl_ioas_unmap(self, ioas_id, iova, length));
}
export function test_err_ioctl_ioas_unmap(self: SelfBase & { ioas_id: number }, errno: ErrnoName, iova: Num, length: Num): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_ioctl_ioas_unmap(self, self.ioas_id, iova, length));
}

export function _test_ioctl_ioas_map_file(self: SelfBase, ioas_id: number, mfd: number, start: Num, length: Num, iova: { v: bigint }, flags: number): void {
  const cmd = { size: 40, flags, ioas_id, fd: mfd, start: BigInt(start), length: BigInt(length), iova: flags & IOMMU_IOAS_MAP_FIXED_IOVA ? iova.v : 0n };
  try {
    ioctl(self, IOMMU_IOAS_MAP_FILE, cmd);
  } finally {
    iova.v = cmd.iova;
  }
}
export function test_ioctl_ioas_map_file(self: SelfBase & { ioas_id: number }, mfd: number, start: Num, length: Num): bigint {
  const iova = { v: 0n };
  _test_ioctl_ioas_map_file(self, self.ioas_id, mfd, start, length, iova, RW);
  return iova.v;
}
export function test_err_ioctl_ioas_map_file(self: SelfBase & { ioas_id: number }, errno: ErrnoName, mfd: number, start: Num, length: Num): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_ioctl_ioas_map_file(self, self.ioas_id, mfd, start, length, { v: 0n }, RW));
}
export function test_ioctl_ioas_map_id_file(self: SelfBase, ioas_id: number, mfd: number, start: Num, length: Num): bigint {
  const iova = { v: 0n };
  _test_ioctl_ioas_map_file(self, ioas_id, mfd, start, length, iova, RW);
  return iova.v;
}
export function test_ioctl_ioas_map_fixed_file(self: SelfBase & { ioas_id: number }, mfd: number, start: Num, length: Num, iova: Num): void {
  _test_ioctl_ioas_map_file(self, self.ioas_id, mfd, start, length, { v: BigInt(iova) }, IOMMU_IOAS_MAP_FIXED_IOVA | RW);
}

export function _test_ioctl_set_temp_memory_limit(self: SelfBase, limit: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, memory_limit: { limit } });
}
export function test_ioctl_set_temp_memory_limit(self: SelfBase, limit: number): void {
  ASSERT_EQ(0, _test_ioctl_set_temp_memory_limit(self, limit));
}
export function test_ioctl_set_default_memory_limit(self: SelfBase): void {
  test_ioctl_set_temp_memory_limit(self, 65536);
}

/** check_refs: the kernel checks each page's pin count. */
export function check_refs(self: SelfBase, ptr: Num, length: Num, refs: number): void {
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_MD_CHECK_REFS, check_refs: { length: BigInt(length), uptr: BigInt(ptr), refs } }), 'MD_CHECK_REFS');
}

/** teardown_iommufd: close, reopen, and check that no page of `buffer` is still pinned. */
export function teardown_iommufd(self: SelfBase, fd: number): void {
  if (fd === -1) return;
  const m = self._metadata;
  const proc = self.env.proc;
  EXPECT_EQ(m, null, errnoOf(() => proc.close(fd)), 'close');
  const again = proc.open('/dev/iommu');
  const refs = { size: 72, op: IOMMU_TEST_OP_MD_CHECK_REFS, check_refs: { length: BigInt(BUFFER_SIZE), uptr: self.env.buffer, refs: 0 } };
  EXPECT_EQ(m, null, errnoOf(() => proc.ioctl(again, IOMMU_TEST_CMD, refs)), 'MD_CHECK_REFS after close');
  EXPECT_EQ(m, null, errnoOf(() => proc.close(again)), 'close');
}
