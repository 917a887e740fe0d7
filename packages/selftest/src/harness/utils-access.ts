// iommufd_utils.h, part 3: in-kernel users of an IOAS (selftest accesses, dma-bufs) and the IOPF fault queue.
import {
  IOMMU_FAULT_QUEUE_ALLOC,
  iommu_hwpt_page_response,
  iommu_hwpt_pgfault,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
  IOMMUFD_PAGE_RESP_SUCCESS,
} from '@iommu-lab/iommu-core';
import { type ErrnoName, O_CLOEXEC } from '@iommu-lab/platform';
import {
  IOMMU_TEST_CMD,
  IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
  IOMMU_TEST_OP_CREATE_ACCESS,
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
  IOMMU_TEST_OP_DMABUF_GET,
  IOMMU_TEST_OP_DMABUF_REVOKE,
  IOMMU_TEST_OP_TRIGGER_IOPF,
} from '../uapi/iommufd-test.js';
import type { SelfBase } from './env.js';
import { ASSERT_EQ, ASSERT_NE, EXPECT_ERRNO } from './harness.js';
import { ioctl } from './utils-ioas.js';

const EIO = 5;

/** _test_cmd_create_access: returns the access fd (out_access_fd). */
export function _test_cmd_create_access(self: SelfBase, ioas_id: number, flags: number): number {
  const cmd = { size: 72, op: IOMMU_TEST_OP_CREATE_ACCESS, id: ioas_id, create_access: { out_access_fd: 0, flags } };
  ioctl(self, IOMMU_TEST_CMD, cmd);
  return cmd.create_access.out_access_fd;
}
export function test_cmd_create_access(self: SelfBase, ioas_id: number, flags: number): number {
  return _test_cmd_create_access(self, ioas_id, flags);
}

/** _test_cmd_destroy_access: the access is an fd; closing it destroys the access. */
export function _test_cmd_destroy_access(self: SelfBase, access_id: number): number {
  self.env.proc.close(access_id);
  return 0;
}
export function test_cmd_destroy_access(self: SelfBase, access_id: number): void {
  ASSERT_EQ(0, _test_cmd_destroy_access(self, access_id), 'close(access)');
}

export function _test_cmd_destroy_access_pages(self: SelfBase, access_id: number, access_pages_id: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, id: access_id, destroy_access_pages: { access_pages_id } });
}
export function test_cmd_destroy_access_pages(self: SelfBase, access_id: number, access_pages_id: number): void {
  ASSERT_EQ(0, _test_cmd_destroy_access_pages(self, access_id, access_pages_id), 'DESTROY_ACCESS_PAGES');
}
export function test_err_destroy_access_pages(self: SelfBase, errno: ErrnoName, access_id: number, access_pages_id: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_destroy_access_pages(self, access_id, access_pages_id));
}

export function _test_cmd_access_replace_ioas(self: SelfBase, access_id: number, ioas_id: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, id: access_id, access_replace_ioas: { ioas_id } });
}
export function test_cmd_access_replace_ioas(self: SelfBase, access_id: number, ioas_id: number): void {
  ASSERT_EQ(0, _test_cmd_access_replace_ioas(self, access_id, ioas_id), 'ACCESS_REPLACE_IOAS');
}

/** _test_cmd_get_dmabuf: the ioctl returns the new dma-buf fd. */
export function _test_cmd_get_dmabuf(self: SelfBase, len: number): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_DMABUF_GET, dmabuf_get: { length: len, open_flags: O_CLOEXEC } });
}
export function test_cmd_get_dmabuf(self: SelfBase, len: number): number {
  const fd = _test_cmd_get_dmabuf(self, len);
  ASSERT_EQ(true, fd >= 0, 'dma-buf fd');
  return fd;
}

export function _test_cmd_revoke_dmabuf(self: SelfBase, dmabuf_fd: number, revoked: boolean): number {
  return ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_DMABUF_REVOKE, dmabuf_revoke: { dmabuf_fd, revoked: revoked ? 1 : 0 } });
}
export function test_cmd_revoke_dmabuf(self: SelfBase, dmabuf_fd: number, revoked: boolean): void {
  ASSERT_EQ(0, _test_cmd_revoke_dmabuf(self, dmabuf_fd, revoked), 'DMABUF_REVOKE');
}

/** _test_ioctl_fault_alloc: returns [fault_id, fault_fd]. */
export function _test_ioctl_fault_alloc(self: SelfBase): [number, number] {
  const cmd = { size: 16, flags: 0, out_fault_id: 0, out_fault_fd: 0 };
  ioctl(self, IOMMU_FAULT_QUEUE_ALLOC, cmd);
  return [cmd.out_fault_id, cmd.out_fault_fd];
}
export function test_ioctl_fault_alloc(self: SelfBase): [number, number] {
  const [fault_id, fault_fd] = _test_ioctl_fault_alloc(self);
  ASSERT_NE(0, fault_id, 'fault_id');
  ASSERT_NE(0, fault_fd, 'fault_fd');
  return [fault_id, fault_fd];
}

/** _test_cmd_trigger_iopf: raise a page request, read it from the fault fd and answer it; -EIO on a short read or write. */
export function _test_cmd_trigger_iopf(self: SelfBase, device_id: number, pasid: number, fault_fd: number): number {
  const trigger_iopf = { dev_id: device_id, pasid, grpid: 0x2, perm: IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE, addr: 0xdeadbeafn };
  ioctl(self, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_TRIGGER_IOPF, trigger_iopf });
  const proc = self.env.proc;
  const bytes = proc.read(fault_fd, iommu_hwpt_pgfault.size);
  if (bytes.length <= 0) return -EIO;
  const fault = iommu_hwpt_pgfault.decode(bytes);
  const response = { cookie: fault.cookie, code: IOMMUFD_PAGE_RESP_SUCCESS };
  if (proc.write(fault_fd, iommu_hwpt_page_response.encode(response)) <= 0) return -EIO;
  return 0;
}
export function test_cmd_trigger_iopf(self: SelfBase, device_id: number, fault_fd: number): void {
  ASSERT_EQ(0, _test_cmd_trigger_iopf(self, device_id, 0x1, fault_fd), 'trigger_iopf');
}
export function test_cmd_trigger_iopf_pasid(self: SelfBase, device_id: number, pasid: number, fault_fd: number): void {
  ASSERT_EQ(0, _test_cmd_trigger_iopf(self, device_id, pasid, fault_fd), 'trigger_iopf');
}
