// drivers/iommu/iommufd/iommufd_test.h (Linux 7.3.4): the mock driver's uAPI, IOMMU_TEST_CMD.
import { _IO, IOMMUFD_CMD_BASE, IOMMUFD_TYPE } from '@iommu-lab/iommu-core';
import { defineStruct } from '@iommu-lab/platform';

export const IOMMU_TEST_OP_ADD_RESERVED = 1;
export const IOMMU_TEST_OP_MOCK_DOMAIN = 2;
export const IOMMU_TEST_OP_MD_CHECK_MAP = 3;
export const IOMMU_TEST_OP_MD_CHECK_REFS = 4;
export const IOMMU_TEST_OP_CREATE_ACCESS = 5;
export const IOMMU_TEST_OP_DESTROY_ACCESS_PAGES = 6;
export const IOMMU_TEST_OP_ACCESS_PAGES = 7;
export const IOMMU_TEST_OP_ACCESS_RW = 8;
export const IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = 9;
export const IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = 10;
export const IOMMU_TEST_OP_ACCESS_REPLACE_IOAS = 11;
export const IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS = 12;
export const IOMMU_TEST_OP_DIRTY = 13;
export const IOMMU_TEST_OP_MD_CHECK_IOTLB = 14;
export const IOMMU_TEST_OP_TRIGGER_IOPF = 15;
export const IOMMU_TEST_OP_DEV_CHECK_CACHE = 16;
export const IOMMU_TEST_OP_TRIGGER_VEVENT = 17;
export const IOMMU_TEST_OP_PASID_ATTACH = 18;
export const IOMMU_TEST_OP_PASID_REPLACE = 19;
export const IOMMU_TEST_OP_PASID_DETACH = 20;
export const IOMMU_TEST_OP_PASID_CHECK_HWPT = 21;
export const IOMMU_TEST_OP_DMABUF_GET = 22;
export const IOMMU_TEST_OP_DMABUF_REVOKE = 23;

export const MOCK_IOMMUPT_DEFAULT = 0;
export const MOCK_IOMMUPT_HUGE = 1;

export const MOCK_APERTURE_START = 1 << 24;
export const MOCK_APERTURE_LAST = 2 ** 31 - 1;
export const MOCK_PAGE_SIZE = 2048;
export const MOCK_HUGE_PAGE_SIZE = 512 * MOCK_PAGE_SIZE;

export const MOCK_FLAGS_ACCESS_WRITE = 1 << 0;
export const MOCK_FLAGS_ACCESS_SYZ = 1 << 16;
export const MOCK_ACCESS_RW_WRITE = 1 << 0;
export const MOCK_ACCESS_RW_SLOW_PATH = 1 << 2;
export const MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES = 1 << 0;
export const MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0;
export const MOCK_FLAGS_DEVICE_PASID = 1 << 2;
export const MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = 3;
export const MOCK_NESTED_DOMAIN_IOTLB_NUM = 4;
export const MOCK_DEV_CACHE_ID_MAX = 3;
export const MOCK_DEV_CACHE_NUM = 4;
export const IOMMU_TEST_PASID_RESERVED = 1024;
export const MOCK_PASID_WIDTH = 20;

export const IOMMU_HW_INFO_TYPE_SELFTEST = 0xfeedbeef;
export const IOMMU_HW_INFO_SELFTEST_REGVAL = 0xdeadbeef;
export const IOMMU_HWPT_DATA_SELFTEST = 0xdead;
export const IOMMU_TEST_IOTLB_DEFAULT = 0xbadbeef;
export const IOMMU_TEST_DEV_CACHE_DEFAULT = 0xbaddad;
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef;
export const IOMMU_TEST_INVALIDATE_FLAG_ALL = 1 << 0;
export const IOMMU_VIOMMU_TYPE_SELFTEST = 0xdeadbeef;
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST = 0xdeadbeef;
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef;
export const IOMMU_VEVENTQ_TYPE_SELFTEST = 0xbeefbeef;
export const IOMMU_HW_QUEUE_TYPE_SELFTEST = 0xdeadbeef;
export const IOMMU_TEST_HW_QUEUE_MAX = 2;

export const IOMMU_TEST_CMD = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32);

const u32 = (name: string, ...fields: string[]) => defineStruct(name, fields.length * 4, Object.fromEntries(fields.map((f, i) => [f, [i * 4, 'u32'] as const])));

const add_reserved = defineStruct('add_reserved', 16, { start: [0, 'u64'], length: [8, 'u64'] });
const mock_domain = u32('mock_domain', 'out_stdev_id', 'out_hwpt_id', 'out_idev_id');
const mock_domain_flags = u32('mock_domain_flags', 'out_stdev_id', 'out_hwpt_id', 'out_idev_id', 'dev_flags');
const mock_domain_replace = u32('mock_domain_replace', 'pt_id');
const check_map = defineStruct('check_map', 24, { iova: [0, 'u64'], length: [8, 'u64'], uptr: [16, 'u64'] });
const check_refs = defineStruct('check_refs', 24, { length: [0, 'u64'], uptr: [8, 'u64'], refs: [16, 'u32'] });
const create_access = u32('create_access', 'out_access_fd', 'flags');
const destroy_access_pages = u32('destroy_access_pages', 'access_pages_id');
const access_pages = defineStruct('access_pages', 32, {
  flags: [0, 'u32'],
  out_access_pages_id: [4, 'u32'],
  iova: [8, 'u64'],
  length: [16, 'u64'],
  uptr: [24, 'u64'],
});
const access_rw = defineStruct('access_rw', 32, { iova: [0, 'u64'], length: [8, 'u64'], uptr: [16, 'u64'], flags: [24, 'u32'] });
const memory_limit = u32('memory_limit', 'limit');
const access_replace_ioas = u32('access_replace_ioas', 'ioas_id');
const dirty = defineStruct('dirty', 48, {
  flags: [0, 'u32'],
  iova: [8, 'u64'],
  length: [16, 'u64'],
  page_size: [24, 'u64'],
  uptr: [32, 'u64'],
  out_nr_dirty: [40, 'u64'],
});
const check_iotlb = u32('check_iotlb', 'id', 'iotlb');
const trigger_iopf = defineStruct('trigger_iopf', 24, { dev_id: [0, 'u32'], pasid: [4, 'u32'], grpid: [8, 'u32'], perm: [12, 'u32'], addr: [16, 'u64'] });
const check_dev_cache = u32('check_dev_cache', 'id', 'cache');
const trigger_vevent = u32('trigger_vevent', 'dev_id');
const pasid_attach = u32('pasid_attach', 'pasid', 'pt_id');
const pasid_replace = u32('pasid_replace', 'pasid', 'pt_id');
const pasid_detach = u32('pasid_detach', 'pasid');
const pasid_check = u32('pasid_check', 'pasid', 'hwpt_id');
const dmabuf_get = u32('dmabuf_get', 'length', 'open_flags');
const dmabuf_revoke = defineStruct('dmabuf_revoke', 8, { dmabuf_fd: [0, 's32'], revoked: [4, 'u32'] });

/** struct iommu_test_cmd: size, op, id, then one union member at offset 16, then `last`. */
export const iommu_test_cmd = defineStruct('iommu_test_cmd', 72, {
  size: [0, 'u32'],
  op: [4, 'u32'],
  id: [8, 'u32'],
  __reserved: [12, 'u32'],
  add_reserved: [16, add_reserved],
  mock_domain: [16, mock_domain],
  mock_domain_flags: [16, mock_domain_flags],
  mock_domain_replace: [16, mock_domain_replace],
  check_map: [16, check_map],
  check_refs: [16, check_refs],
  create_access: [16, create_access],
  destroy_access_pages: [16, destroy_access_pages],
  access_pages: [16, access_pages],
  access_rw: [16, access_rw],
  memory_limit: [16, memory_limit],
  access_replace_ioas: [16, access_replace_ioas],
  dirty: [16, dirty],
  check_iotlb: [16, check_iotlb],
  trigger_iopf: [16, trigger_iopf],
  check_dev_cache: [16, check_dev_cache],
  trigger_vevent: [16, trigger_vevent],
  pasid_attach: [16, pasid_attach],
  pasid_replace: [16, pasid_replace],
  pasid_detach: [16, pasid_detach],
  pasid_check: [16, pasid_check],
  dmabuf_get: [16, dmabuf_get],
  dmabuf_revoke: [16, dmabuf_revoke],
  last: [64, 'u32'],
});

export const iommu_test_hw_info = u32('iommu_test_hw_info', 'flags', 'test_reg');
export const iommu_hwpt_selftest = u32('iommu_hwpt_selftest', 'iotlb', 'pagetable_type');
export const iommu_hwpt_invalidate_selftest = u32('iommu_hwpt_invalidate_selftest', 'flags', 'iotlb_id');
export const iommu_viommu_selftest = defineStruct('iommu_viommu_selftest', 24, {
  in_data: [0, 'u32'],
  out_data: [4, 'u32'],
  out_mmap_offset: [8, 'u64'],
  out_mmap_length: [16, 'u64'],
});
export const iommu_viommu_invalidate_selftest = u32('iommu_viommu_invalidate_selftest', 'flags', 'vdev_id', 'cache_id');
export const iommu_viommu_event_selftest = u32('iommu_viommu_event_selftest', 'virt_id');
