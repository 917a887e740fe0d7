// iommufd_utils.h, part 4: vIOMMU, vDEVICE, vEVENTQ and HW queue helpers, vIOMMU invalidation, mmap.
import {
  IOMMU_HW_QUEUE_ALLOC,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_VDEVICE_ALLOC,
  IOMMU_VEVENTQ_ALLOC,
  IOMMU_VEVENTQ_FLAG_LOST_EVENTS,
  IOMMU_VIOMMU_ALLOC,
  iommufd_vevent_header,
} from '@iommu-lab/iommu-core';
import { type ErrnoName, ErrnoError, POLLIN } from '@iommu-lab/platform';
import { iommu_viommu_event_selftest, IOMMU_TEST_CMD, IOMMU_TEST_OP_TRIGGER_VEVENT, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST } from '../uapi/iommufd-test.js';
import type { SelfBase } from './env.js';
import { ASSERT_EQ, EXPECT_ERRNO } from './harness.js';
import { ioctl } from './utils-ioas.js';

type Num = number | bigint;

/** test_err_mmap: mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, offset) must fail. */
export function test_err_mmap(self: SelfBase, errno: ErrnoName, length: Num, offset: Num): void {
  EXPECT_ERRNO(self._metadata, errno, () => self.env.proc.mmap(length, { fd: self.fd, offset, shared: true }));
}

/** _test_cmd_viommu_invalidate: nreqs.v is the entry count in and the handled count out (read even on failure). */
export function _test_cmd_viommu_invalidate(self: SelfBase, viommu_id: number, reqs: bigint, data_type: number, lreq: number, nreqs: { v: number }): number {
  const cmd = { size: 32, hwpt_id: viommu_id, data_type, data_uptr: reqs, entry_len: lreq, entry_num: nreqs.v };
  try {
    return ioctl(self, IOMMU_HWPT_INVALIDATE, cmd);
  } finally {
    nreqs.v = cmd.entry_num;
  }
}
export function test_cmd_viommu_invalidate(self: SelfBase, viommu: number, reqs: bigint, lreq: number, nreqs: { v: number }): void {
  ASSERT_EQ(0, _test_cmd_viommu_invalidate(self, viommu, reqs, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, lreq, nreqs), 'viommu invalidate');
}
export function test_err_viommu_invalidate(self: SelfBase, errno: ErrnoName, viommu_id: number, reqs: bigint, data_type: number, lreq: number, nreqs: { v: number }): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_viommu_invalidate(self, viommu_id, reqs, data_type, lreq, nreqs));
}

/** _test_cmd_viommu_alloc: data is a user address (0n for NULL); returns out_viommu_id. */
export function _test_cmd_viommu_alloc(self: SelfBase, device_id: number, hwpt_id: number, flags: number, type: number, data: bigint, data_len: number): number {
  const cmd = { size: 40, flags, type, dev_id: device_id, hwpt_id, out_viommu_id: 0, data_len, __reserved: 0, data_uptr: data };
  ioctl(self, IOMMU_VIOMMU_ALLOC, cmd);
  return cmd.out_viommu_id;
}
export function test_cmd_viommu_alloc(self: SelfBase, device_id: number, hwpt_id: number, type: number, data: bigint, data_len: number): number {
  return _test_cmd_viommu_alloc(self, device_id, hwpt_id, 0, type, data, data_len);
}
export function test_err_viommu_alloc(self: SelfBase, errno: ErrnoName, device_id: number, hwpt_id: number, type: number, data: bigint, data_len: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_viommu_alloc(self, device_id, hwpt_id, 0, type, data, data_len));
}

/** _test_cmd_vdevice_alloc: returns out_vdevice_id. */
export function _test_cmd_vdevice_alloc(self: SelfBase, viommu_id: number, idev_id: number, virt_id: Num): number {
  const cmd = { size: 24, viommu_id, dev_id: idev_id, out_vdevice_id: 0, virt_id: BigInt(virt_id) };
  ioctl(self, IOMMU_VDEVICE_ALLOC, cmd);
  return cmd.out_vdevice_id;
}
export function test_cmd_vdevice_alloc(self: SelfBase, viommu_id: number, idev_id: number, virt_id: Num): number {
  return _test_cmd_vdevice_alloc(self, viommu_id, idev_id, virt_id);
}
export function test_err_vdevice_alloc(self: SelfBase, errno: ErrnoName, viommu_id: number, idev_id: number, virt_id: Num): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_vdevice_alloc(self, viommu_id, idev_id, virt_id));
}

/** _test_cmd_hw_queue_alloc: returns out_hw_queue_id. */
export function _test_cmd_hw_queue_alloc(self: SelfBase, viommu_id: number, type: number, idx: number, base_addr: Num, length: Num): number {
  const cmd = { size: 40, flags: 0, viommu_id, type, index: idx, out_hw_queue_id: 0, nesting_parent_iova: BigInt(base_addr), length: BigInt(length) };
  ioctl(self, IOMMU_HW_QUEUE_ALLOC, cmd);
  return cmd.out_hw_queue_id;
}
export function test_cmd_hw_queue_alloc(self: SelfBase, viommu_id: number, type: number, idx: number, base_addr: Num, len: Num): number {
  return _test_cmd_hw_queue_alloc(self, viommu_id, type, idx, base_addr, len);
}
export function test_err_hw_queue_alloc(self: SelfBase, errno: ErrnoName, viommu_id: number, type: number, idx: number, base_addr: Num, len: Num): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_hw_queue_alloc(self, viommu_id, type, idx, base_addr, len));
}

/** _test_cmd_veventq_alloc: returns [out_veventq_id, out_veventq_fd]. */
export function _test_cmd_veventq_alloc(self: SelfBase, viommu_id: number, type: number, depth: number): [number, number] {
  const cmd = { size: 32, flags: 0, viommu_id, type, veventq_depth: depth, out_veventq_id: 0, out_veventq_fd: 0, __reserved: 0 };
  ioctl(self, IOMMU_VEVENTQ_ALLOC, cmd);
  return [cmd.out_veventq_id, cmd.out_veventq_fd];
}
export function test_cmd_veventq_alloc(self: SelfBase, viommu_id: number, type: number, depth: number): [number, number] {
  return _test_cmd_veventq_alloc(self, viommu_id, type, depth);
}
export function test_err_veventq_alloc(self: SelfBase, errno: ErrnoName, viommu_id: number, type: number, depth: number): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_veventq_alloc(self, viommu_id, type, depth));
}

export function _test_cmd_trigger_vevents(self: SelfBase, dev_id: number, nvevents: number): number {
  const trigger_vevent_cmd = { size: 72, op: IOMMU_TEST_OP_TRIGGER_VEVENT, trigger_vevent: { dev_id } };
  while (nvevents--) ioctl(self, IOMMU_TEST_CMD, trigger_vevent_cmd);
  return 0;
}
export function test_cmd_trigger_vevents(self: SelfBase, dev_id: number, nvevents: number): void {
  ASSERT_EQ(0, _test_cmd_trigger_vevents(self, dev_id, nvevents), 'trigger_vevents');
}

/**
 * _test_cmd_read_vevents: polls, reads nvevents records and checks their sequence numbers (no
 * gap, no lost-events mark) and virt_id. The errno of a failed check is thrown, as -1 + errno.
 */
export function _test_cmd_read_vevents(self: SelfBase, event_fd: number, nvevents: number, virt_id: number, prev_seq: { v: number }): number {
  const proc = self.env.proc;
  const hdr_size = iommufd_vevent_header.size;
  const event_size = iommu_viommu_event_selftest.size;
  proc.poll(event_fd, POLLIN);
  // calloc: a short read leaves zeroed records behind it.
  const data = new Uint8Array(nvevents * (hdr_size + event_size));
  let bytes: Uint8Array;
  try {
    bytes = proc.read(event_fd, nvevents * (hdr_size + event_size));
  } catch {
    throw new ErrnoError('EFAULT', 'read', 'reading the vEVENTQ failed');
  }
  if (bytes.length <= 0) throw new ErrnoError('EFAULT', 'read', 'the vEVENTQ returned nothing');
  data.set(bytes);
  for (let i = 0; i < nvevents; i++) {
    const off = i * (hdr_size + event_size);
    const hdr = iommufd_vevent_header.decode(data.subarray(off, off + hdr_size));
    // hdr->sequence - *prev_seq is computed in unsigned int.
    if (hdr.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS || (hdr.sequence - prev_seq.v) >>> 0 > 1) {
      prev_seq.v = hdr.sequence;
      throw new ErrnoError('EOVERFLOW', 'read', `vEVENT ${i}: flags ${hdr.flags}, sequence ${hdr.sequence}`);
    }
    prev_seq.v = hdr.sequence;
    // The C helper reads the event after the first header for every record.
    const event = iommu_viommu_event_selftest.decode(data.subarray(hdr_size, hdr_size + event_size));
    if (event.virt_id !== virt_id) throw new ErrnoError('EINVAL', 'read', `vEVENT ${i}: virt_id 0x${event.virt_id.toString(16)}`);
  }
  return 0;
}
export function test_cmd_read_vevents(self: SelfBase, event_fd: number, nvevents: number, virt_id: number, prev_seq: { v: number }): void {
  ASSERT_EQ(0, _test_cmd_read_vevents(self, event_fd, nvevents, virt_id, prev_seq), 'read_vevents');
}
export function test_err_read_vevents(self: SelfBase, errno: ErrnoName, event_fd: number, nvevents: number, virt_id: number, prev_seq: { v: number }): void {
  EXPECT_ERRNO(self._metadata, errno, () => _test_cmd_read_vevents(self, event_fd, nvevents, virt_id, prev_seq));
}
