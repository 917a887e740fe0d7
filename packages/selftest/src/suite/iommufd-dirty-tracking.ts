// FIXTURE(iommufd_dirty_tracking): dirty-tracking HWPTs, device capability and the dirty bitmap of the mock domain.
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_OPTION,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_SET,
  iommu_option,
} from '@iommu-lab/iommu-core';
import { HUGEPAGE_SIZE, PAGE_SIZE, type SelfBase, selfBase } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_NE, EXPECT_ERRNO, SKIP } from '../harness/harness.js';
import { BITS_PER_BYTE, DIV_ROUND_UP, test_cmd_set_dirty_tracking, test_mock_dirty_bitmaps } from '../harness/utils-dirty.js';
import { ioctl, teardown_iommufd, test_ioctl_destroy, test_ioctl_ioas_alloc, test_ioctl_ioas_map_fixed_id } from '../harness/utils-ioas.js';
import {
  assert,
  test_cmd_get_hw_capabilities,
  test_cmd_hwpt_alloc,
  test_cmd_hwpt_alloc_iommupt,
  test_cmd_mock_domain,
  test_cmd_mock_domain_flags,
  test_err_hwpt_alloc,
  test_err_mock_domain_flags,
} from '../harness/utils-mock.js';
import { _test_cmd_pasid_attach, _test_cmd_pasid_detach } from '../harness/utils-pasid.js';
import {
  MOCK_APERTURE_START,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_FLAGS_DEVICE_PASID,
  MOCK_HUGE_PAGE_SIZE,
  MOCK_IOMMUPT_DEFAULT,
  MOCK_IOMMUPT_HUGE,
  MOCK_PAGE_SIZE,
} from '../uapi/iommufd-test.js';
import { suite } from './suite.js';

interface Self extends SelfBase {
  ioas_id: number;
  hwpt_id: number;
  stdev_id: number;
  idev_id: number;
  page_size: number;
  bitmap_size: number;
  bitmap: bigint;
  buffer: bigint;
}

interface Variant {
  buffer_size: number;
  hugepages: boolean;
}

const F = 'iommufd_dirty_tracking';

suite.FIXTURE<Self>(F, (m) => ({ ...selfBase(m), ioas_id: 0, hwpt_id: 0, stdev_id: 0, idev_id: 0, page_size: 0, bitmap_size: 0, bitmap: 0n, buffer: 0n }));

suite.FIXTURE_SETUP<Self, Variant>(F, (self, variant) => {
  const cmd = { size: iommu_option.size, option_id: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_SET, object_id: 0, val64: 0n };
  const proc = self.env.proc;

  if (variant.buffer_size < MOCK_PAGE_SIZE) SKIP(`Skipping buffer_size=${variant.buffer_size}, less than MOCK_PAGE_SIZE=${MOCK_PAGE_SIZE}`);

  self.fd = proc.open('/dev/iommu');
  ASSERT_NE(-1, self.fd);

  let mmap_buffer_size = variant.buffer_size;
  // MAP_HUGETLB | MAP_POPULATE; the mapping covers whole huge pages, so the hole must too.
  if (variant.hugepages && mmap_buffer_size < HUGEPAGE_SIZE) mmap_buffer_size = HUGEPAGE_SIZE;

  // posix_memalign(HUGEPAGE_SIZE), then MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED over it.
  self.buffer = proc.mmap(mmap_buffer_size, { align: HUGEPAGE_SIZE });
  assert(self.buffer % BigInt(HUGEPAGE_SIZE) === 0n, '(uintptr_t)self->buffer % HUGEPAGE_SIZE == 0');
  const vrc = proc.mmap(mmap_buffer_size, { fixed: self.buffer, shared: true, hugetlb: variant.hugepages, populate: variant.hugepages });
  assert(vrc === self.buffer, 'vrc == self->buffer');

  self.page_size = MOCK_PAGE_SIZE;
  self.bitmap_size = variant.buffer_size / self.page_size;

  // Provision with an extra (PAGE_SIZE) for the unaligned case
  const size = DIV_ROUND_UP(self.bitmap_size, BITS_PER_BYTE);
  self.bitmap = proc.mmap(size + PAGE_SIZE);
  assert(self.bitmap, 'self->bitmap');
  assert(self.bitmap % BigInt(PAGE_SIZE) === 0n, '(uintptr_t)self->bitmap % PAGE_SIZE == 0');

  self.ioas_id = test_ioctl_ioas_alloc(self);

  // Without huge pages the IOAS maps PAGE_SIZE units, each several MOCK_PAGE_SIZE entries: whole mappings read dirty.
  cmd.object_id = self.ioas_id;
  if (!variant.hugepages) ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));

  [self.stdev_id, self.hwpt_id, self.idev_id] = test_cmd_mock_domain(self, self.ioas_id);
});

suite.FIXTURE_TEARDOWN<Self, Variant>(F, (self) => {
  // free(self->buffer) and free(self->bitmap) leave the mappings to the process, as glibc does here.
  teardown_iommufd(self, self.fd);
});

// half of an u8 index bitmap
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'domain_dirty8k', { buffer_size: 8 * 1024, hugepages: false });
// one u8 index bitmap
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'domain_dirty16k', { buffer_size: 16 * 1024, hugepages: false });
// one u32 index bitmap
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'domain_dirty64k', { buffer_size: 64 * 1024, hugepages: false });
// one u64 index bitmap
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'domain_dirty128k', { buffer_size: 128 * 1024, hugepages: false });
// two u64 index and trailing end bitmap
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'domain_dirty320k', { buffer_size: 320 * 1024, hugepages: false });
// 4K bitmap (64M IOVA range)
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'domain_dirty64M', { buffer_size: 64 * 1024 * 1024, hugepages: false });
// 4K bitmap (64M IOVA range)
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'domain_dirty64M_huge', { buffer_size: 64 * 1024 * 1024, hugepages: true });
// 8K bitmap (128M IOVA range)
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'domain_dirty128M', { buffer_size: 128 * 1024 * 1024, hugepages: false });
// 8K bitmap (128M IOVA range)
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'domain_dirty128M_huge', { buffer_size: 128 * 1024 * 1024, hugepages: true });

suite.TEST_F<Self, Variant>(F, 'enforce_dirty', (self) => {
  // Regular case
  const dev_flags = MOCK_FLAGS_DEVICE_NO_DIRTY;
  const hwpt_id = test_cmd_hwpt_alloc(self, self.idev_id, self.ioas_id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  const [stddev_id] = test_cmd_mock_domain(self, hwpt_id);
  test_err_mock_domain_flags(self, 'EINVAL', hwpt_id, dev_flags);
  test_ioctl_destroy(self, stddev_id);
  test_ioctl_destroy(self, hwpt_id);

  // IOMMU device does not support dirty tracking
  const ioas_id = test_ioctl_ioas_alloc(self);
  const [stddev_id2, , idev_id] = test_cmd_mock_domain_flags(self, ioas_id, dev_flags);
  test_err_hwpt_alloc(self, 'EOPNOTSUPP', idev_id, ioas_id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  test_ioctl_destroy(self, stddev_id2);
});

suite.TEST_F<Self, Variant>(F, 'set_dirty_tracking', (self) => {
  const hwpt_id = test_cmd_hwpt_alloc(self, self.idev_id, self.ioas_id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  const [stddev_id] = test_cmd_mock_domain(self, hwpt_id);
  test_cmd_set_dirty_tracking(self, hwpt_id, true);
  test_cmd_set_dirty_tracking(self, hwpt_id, false);

  test_ioctl_destroy(self, stddev_id);
  test_ioctl_destroy(self, hwpt_id);
});

suite.TEST_F<Self, Variant>(F, 'pasid_set_dirty_tracking', (self, _v, m) => {
  const pasid = 100;
  let dev_flags = MOCK_FLAGS_DEVICE_PASID;

  // Regular case
  const hwpt_id = test_cmd_hwpt_alloc(self, self.idev_id, self.ioas_id, IOMMU_HWPT_ALLOC_PASID | IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  let [stddev_id] = test_cmd_mock_domain_flags(self, hwpt_id, dev_flags);
  ASSERT_EQ(0, _test_cmd_pasid_attach(self, stddev_id, pasid, hwpt_id));
  test_cmd_set_dirty_tracking(self, hwpt_id, true);
  test_cmd_set_dirty_tracking(self, hwpt_id, false);
  ASSERT_EQ(0, _test_cmd_pasid_detach(self, stddev_id, pasid));

  test_ioctl_destroy(self, stddev_id);

  // IOMMU device does not support dirty tracking
  dev_flags |= MOCK_FLAGS_DEVICE_NO_DIRTY;
  const ioas_id = test_ioctl_ioas_alloc(self);
  [stddev_id] = test_cmd_mock_domain_flags(self, ioas_id, dev_flags);
  EXPECT_ERRNO(m, 'EINVAL', () => _test_cmd_pasid_attach(self, stddev_id, pasid, hwpt_id));

  test_ioctl_destroy(self, stddev_id);
  test_ioctl_destroy(self, hwpt_id);
});

suite.TEST_F<Self, Variant>(F, 'device_dirty_capability', (self) => {
  const hwpt_id = test_cmd_hwpt_alloc(self, self.idev_id, self.ioas_id, 0);
  const [stddev_id] = test_cmd_mock_domain(self, hwpt_id);
  const caps = test_cmd_get_hw_capabilities(self, self.idev_id);
  ASSERT_EQ(IOMMU_HW_CAP_DIRTY_TRACKING, caps & IOMMU_HW_CAP_DIRTY_TRACKING);

  test_ioctl_destroy(self, stddev_id);
  test_ioctl_destroy(self, hwpt_id);
});

suite.TEST_F<Self, Variant>(F, 'get_dirty_bitmap', (self, variant) => {
  let page_size = PAGE_SIZE;
  const ioas_id = self.ioas_id;
  let hwpt_id: number;

  if (variant.hugepages) page_size = MOCK_HUGE_PAGE_SIZE;

  test_ioctl_ioas_map_fixed_id(self, ioas_id, self.buffer, variant.buffer_size, MOCK_APERTURE_START);

  if (variant.hugepages) hwpt_id = test_cmd_hwpt_alloc_iommupt(self, self.idev_id, ioas_id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, MOCK_IOMMUPT_HUGE);
  else hwpt_id = test_cmd_hwpt_alloc_iommupt(self, self.idev_id, ioas_id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, MOCK_IOMMUPT_DEFAULT);

  test_cmd_set_dirty_tracking(self, hwpt_id, true);

  test_mock_dirty_bitmaps(self, hwpt_id, variant.buffer_size, MOCK_APERTURE_START, self.page_size, page_size, self.bitmap, self.bitmap_size, 0);

  // PAGE_SIZE unaligned bitmap
  test_mock_dirty_bitmaps(self, hwpt_id, variant.buffer_size, MOCK_APERTURE_START, self.page_size, page_size, self.bitmap + BigInt(MOCK_PAGE_SIZE), self.bitmap_size, 0);

  // u64 unaligned bitmap
  test_mock_dirty_bitmaps(self, hwpt_id, variant.buffer_size, MOCK_APERTURE_START, self.page_size, page_size, self.bitmap + 0xff1n, self.bitmap_size, 0);

  test_ioctl_destroy(self, hwpt_id);
});

suite.TEST_F<Self, Variant>(F, 'get_dirty_bitmap_no_clear', (self, variant) => {
  let page_size = PAGE_SIZE;
  const ioas_id = self.ioas_id;
  let hwpt_id: number;

  if (variant.hugepages) page_size = MOCK_HUGE_PAGE_SIZE;

  test_ioctl_ioas_map_fixed_id(self, ioas_id, self.buffer, variant.buffer_size, MOCK_APERTURE_START);

  if (variant.hugepages) hwpt_id = test_cmd_hwpt_alloc_iommupt(self, self.idev_id, ioas_id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, MOCK_IOMMUPT_HUGE);
  else hwpt_id = test_cmd_hwpt_alloc_iommupt(self, self.idev_id, ioas_id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, MOCK_IOMMUPT_DEFAULT);

  test_cmd_set_dirty_tracking(self, hwpt_id, true);

  test_mock_dirty_bitmaps(self, hwpt_id, variant.buffer_size, MOCK_APERTURE_START, self.page_size, page_size, self.bitmap, self.bitmap_size, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);

  // Unaligned bitmap
  test_mock_dirty_bitmaps(self, hwpt_id, variant.buffer_size, MOCK_APERTURE_START, self.page_size, page_size, self.bitmap + BigInt(MOCK_PAGE_SIZE), self.bitmap_size, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);

  // u64 unaligned bitmap
  test_mock_dirty_bitmaps(self, hwpt_id, variant.buffer_size, MOCK_APERTURE_START, self.page_size, page_size, self.bitmap + 0xff1n, self.bitmap_size, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);

  test_ioctl_destroy(self, hwpt_id);
});
