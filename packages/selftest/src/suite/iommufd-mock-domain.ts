// FIXTURE(iommufd_mock_domain): IOAS mappings mirrored into one or two mock domains, over anonymous, hugetlb and memfd memory.
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  iommu_ioas_copy,
  iommu_ioas_unmap,
} from '@iommu-lab/iommu-core';
import { type MmapOptions, O_RDONLY } from '@iommu-lab/platform';
import { BUFFER_SIZE, HUGEPAGE_SIZE, PAGE_SIZE, type SelfBase, selfBase } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_GE, ASSERT_GT, ASSERT_NE, EXPECT_ERRNO } from '../harness/harness.js';
import { test_cmd_access_replace_ioas, test_cmd_create_access, test_cmd_destroy_access, test_cmd_destroy_access_pages } from '../harness/utils-access.js';
import { MAP_FAILED, memfd_mmap } from '../harness/utils-domain.js';
import {
  _test_ioctl_destroy,
  _test_ioctl_ioas_map,
  check_refs,
  ioctl,
  teardown_iommufd,
  test_err_ioctl_ioas_map,
  test_err_ioctl_ioas_map_file,
  test_ioctl_destroy,
  test_ioctl_ioas_alloc,
  test_ioctl_ioas_map,
  test_ioctl_ioas_map_file,
  test_ioctl_ioas_map_id,
  test_ioctl_ioas_map_id_file,
  test_ioctl_ioas_unmap,
} from '../harness/utils-ioas.js';
import {
  check_mock_iova,
  test_cmd_dev_check_cache_all,
  test_cmd_hwpt_alloc,
  test_cmd_mock_domain,
  test_cmd_mock_domain_replace,
  test_err_hwpt_alloc,
  test_err_mock_domain_replace,
} from '../harness/utils-mock.js';
import {
  IOMMU_TEST_CMD,
  IOMMU_TEST_DEV_CACHE_DEFAULT,
  IOMMU_TEST_OP_ACCESS_PAGES,
  MOCK_APERTURE_START,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
  MOCK_PAGE_SIZE,
} from '../uapi/iommufd-test.js';
import { suite } from './suite.js';

interface Self extends SelfBase {
  ioas_id: number;
  hwpt_id: number;
  hwpt_ids: number[];
  stdev_ids: number[];
  idev_ids: number[];
  mmap_flags: MmapOptions;
  mmap_buf_size: number;
}

interface Variant {
  mock_domains: number;
  hugepages: boolean;
  file: boolean;
}

const F = 'iommufd_mock_domain';

suite.FIXTURE<Self>(F, (m) => ({
  ...selfBase(m),
  ioas_id: 0,
  hwpt_id: 0,
  hwpt_ids: [0, 0],
  stdev_ids: [0, 0],
  idev_ids: [0, 0],
  mmap_flags: {},
  mmap_buf_size: 0,
}));

suite.FIXTURE_SETUP<Self, Variant>(F, (self, variant) => {
  self.fd = self.env.proc.open('/dev/iommu');
  ASSERT_NE(-1, self.fd);
  self.ioas_id = test_ioctl_ioas_alloc(self);

  ASSERT_GE(self.hwpt_ids.length, variant.mock_domains);

  for (let i = 0; i !== variant.mock_domains; i++) {
    [self.stdev_ids[i], self.hwpt_ids[i], self.idev_ids[i]] = test_cmd_mock_domain(self, self.ioas_id);
    test_cmd_dev_check_cache_all(self, self.idev_ids[0]!, IOMMU_TEST_DEV_CACHE_DEFAULT);
  }
  self.hwpt_id = self.hwpt_ids[0]!;

  self.mmap_flags = { shared: true };
  self.mmap_buf_size = PAGE_SIZE * 8;
  if (variant.hugepages) {
    // MAP_POPULATE will cause the kernel to fail mmap if THPs are not available.
    self.mmap_flags = { ...self.mmap_flags, hugetlb: true, populate: true };
    self.mmap_buf_size = HUGEPAGE_SIZE * 2;
  }
});

suite.FIXTURE_TEARDOWN<Self, Variant>(F, (self) => teardown_iommufd(self, self.fd));

suite.FIXTURE_VARIANT_ADD<Variant>(F, 'one_domain', { mock_domains: 1, hugepages: false, file: false });
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'two_domains', { mock_domains: 2, hugepages: false, file: false });
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'one_domain_hugepage', { mock_domains: 1, hugepages: true, file: false });
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'two_domains_hugepage', { mock_domains: 2, hugepages: true, file: false });
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'one_domain_file', { mock_domains: 1, hugepages: false, file: true });
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'one_domain_file_hugepage', { mock_domains: 1, hugepages: true, file: true });

function test_basic_mmap(self: Self): void {
  const buf_size = self.mmap_buf_size;
  const proc = self.env.proc;

  // Simple one page map
  const iova = test_ioctl_ioas_map(self, self.env.buffer, PAGE_SIZE);
  check_mock_iova(self, self.env.buffer, iova, PAGE_SIZE);

  const buf = proc.mmap(buf_size, { ...self.mmap_flags, prot: 'rw' });
  ASSERT_NE(MAP_FAILED, buf);

  // EFAULT half way through mapping
  proc.munmap(buf + BigInt(buf_size / 2), buf_size / 2);
  test_err_ioctl_ioas_map(self, 'EFAULT', buf, buf_size);

  // EFAULT on first page
  proc.munmap(buf, buf_size / 2);
  test_err_ioctl_ioas_map(self, 'EFAULT', buf, buf_size);
}

function test_basic_file(self: Self): void {
  const buf_size = self.mmap_buf_size;
  const mfd_tmp = { v: -1 };
  const prot = 'rw';

  // Simple one page map
  const iova = test_ioctl_ioas_map_file(self, self.env.mfd, 0, PAGE_SIZE);
  check_mock_iova(self, self.env.mfd_buffer, iova, PAGE_SIZE);

  const buf = memfd_mmap(self, buf_size, prot, { shared: true }, mfd_tmp);
  ASSERT_NE(MAP_FAILED, buf);

  test_err_ioctl_ioas_map_file(self, 'EINVAL', mfd_tmp.v, 0, buf_size + 1);

  self.env.proc.ftruncate(mfd_tmp.v, 0);
  test_err_ioctl_ioas_map_file(self, 'EINVAL', mfd_tmp.v, 0, buf_size);

  self.env.proc.close(mfd_tmp.v);
}

suite.TEST_F<Self, Variant>(F, 'basic', (self, variant) => {
  if (variant.file) test_basic_file(self);
  else test_basic_mmap(self);
});

suite.TEST_F<Self, Variant>(F, 'ro_unshare', (self) => {
  const proc = self.env.proc;
  const iova = { v: 0n };

  const fd = proc.open('/proc/self/exe', O_RDONLY);
  ASSERT_NE(-1, fd);

  const buf = proc.mmap(PAGE_SIZE, { prot: 'rw', shared: false, fd });
  ASSERT_NE(MAP_FAILED, buf);
  proc.close(fd);

  // The write to the page after we map it for reading must not change the pinned PFN (GUP "unshare").
  _test_ioctl_ioas_map(self, self.ioas_id, buf, PAGE_SIZE, iova, IOMMU_IOAS_MAP_READABLE);
  check_mock_iova(self, buf, iova.v, PAGE_SIZE);
  proc.memWrite(buf, new Uint8Array(PAGE_SIZE).fill(1));
  check_mock_iova(self, buf, iova.v, PAGE_SIZE);
  proc.munmap(buf, PAGE_SIZE);
});

/** The all_aligns loops: maps every start/end pair (only end == buf_size for hugepages), calling body for each. */
function all_aligns_body(self: Self, variant: Variant, body: (buf: bigint, mfd: number, start: number, end: number) => void): void {
  const test_step = variant.hugepages ? self.mmap_buf_size / 16 : MOCK_PAGE_SIZE;
  const buf_size = self.mmap_buf_size;
  const prot = 'rw';
  const mfd = { v: -1 };
  const proc = self.env.proc;
  let buf: bigint;

  if (variant.file) buf = memfd_mmap(self, buf_size, prot, { shared: true }, mfd);
  else buf = proc.mmap(buf_size, { ...self.mmap_flags, prot });
  ASSERT_NE(MAP_FAILED, buf);
  if (variant.file) ASSERT_GT(mfd.v, 0);
  check_refs(self, buf, buf_size, 0);

  // Every combination of page size and alignment within a big region, fewer for hugepages as it takes so long.
  for (let start = 0; start < buf_size; start += test_step) {
    let end: number;
    if (variant.hugepages) end = buf_size;
    else end = start + MOCK_PAGE_SIZE;
    for (; end < buf_size; end += MOCK_PAGE_SIZE) body(buf, mfd.v, start, end);
  }
  check_refs(self, buf, buf_size, 0);
  proc.munmap(buf, buf_size);
  if (variant.file) proc.close(mfd.v);
}

const pageDown = (x: number) => Math.floor(x / PAGE_SIZE) * PAGE_SIZE;

suite.TEST_F<Self, Variant>(F, 'all_aligns', (self, variant) => {
  all_aligns_body(self, variant, (buf, mfd, start, end) => {
    const length = end - start;
    let iova: bigint;

    if (variant.file) iova = test_ioctl_ioas_map_file(self, mfd, start, length);
    else iova = test_ioctl_ioas_map(self, buf + BigInt(start), length);
    check_mock_iova(self, buf + BigInt(start), iova, length);
    check_refs(self, buf + BigInt(pageDown(start)), pageDown(end) - pageDown(start), 1);

    test_ioctl_ioas_unmap(self, iova, length);
  });
});

suite.TEST_F<Self, Variant>(F, 'all_aligns_copy', (self, variant) => {
  all_aligns_body(self, variant, (buf, mfd, start, end) => {
    const length = end - start;
    let iova: bigint;

    if (variant.file) iova = test_ioctl_ioas_map_file(self, mfd, start, length);
    else iova = test_ioctl_ioas_map(self, buf + BigInt(start), length);

    // Add and destroy a domain while the area exists
    const old_id = self.hwpt_ids[1]!;
    let mock_stdev_id: number;
    [mock_stdev_id, self.hwpt_ids[1]] = test_cmd_mock_domain(self, self.ioas_id);

    check_mock_iova(self, buf + BigInt(start), iova, length);
    check_refs(self, buf + BigInt(pageDown(start)), pageDown(end) - pageDown(start), 1);

    test_ioctl_destroy(self, mock_stdev_id);
    self.hwpt_ids[1] = old_id;

    test_ioctl_ioas_unmap(self, iova, length);
  });
});

suite.TEST_F<Self, Variant>(F, 'user_copy', (self, variant) => {
  const buf = variant.file ? self.env.mfd_buffer : self.env.buffer;
  const access_cmd = {
    size: 72,
    op: IOMMU_TEST_OP_ACCESS_PAGES,
    id: 0,
    access_pages: { flags: 0, out_access_pages_id: 0, iova: 0n, length: BigInt(BUFFER_SIZE), uptr: buf },
  };
  const copy_cmd = {
    size: iommu_ioas_copy.size,
    flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE,
    dst_ioas_id: self.ioas_id,
    src_ioas_id: 0,
    length: BigInt(BUFFER_SIZE),
    dst_iova: BigInt(MOCK_APERTURE_START),
    src_iova: 0n,
  };
  const unmap_cmd = { size: iommu_ioas_unmap.size, ioas_id: self.ioas_id, iova: BigInt(MOCK_APERTURE_START), length: BigInt(BUFFER_SIZE) };

  // Pin the pages in an IOAS with no domains then copy to an IOAS with domains
  const ioas_id = test_ioctl_ioas_alloc(self);
  if (variant.file) copy_cmd.src_iova = test_ioctl_ioas_map_id_file(self, ioas_id, self.env.mfd, 0, BUFFER_SIZE);
  else copy_cmd.src_iova = test_ioctl_ioas_map_id(self, ioas_id, buf, BUFFER_SIZE);
  access_cmd.id = test_cmd_create_access(self, ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);

  access_cmd.access_pages.iova = copy_cmd.src_iova;
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd));
  copy_cmd.src_ioas_id = ioas_id;
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_COPY, copy_cmd));
  check_mock_iova(self, buf, MOCK_APERTURE_START, BUFFER_SIZE);

  // Now replace the ioas with a new one
  const new_ioas_id = test_ioctl_ioas_alloc(self);
  if (variant.file) copy_cmd.src_iova = test_ioctl_ioas_map_id_file(self, new_ioas_id, self.env.mfd, 0, BUFFER_SIZE);
  else copy_cmd.src_iova = test_ioctl_ioas_map_id(self, new_ioas_id, buf, BUFFER_SIZE);
  test_cmd_access_replace_ioas(self, access_cmd.id, new_ioas_id);

  // Destroy the old ioas and cleanup copied mapping
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_UNMAP, unmap_cmd));
  test_ioctl_destroy(self, ioas_id);

  // Then run the same test again with the new ioas
  access_cmd.access_pages.iova = copy_cmd.src_iova;
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd));
  copy_cmd.src_ioas_id = new_ioas_id;
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_COPY, copy_cmd));
  check_mock_iova(self, buf, MOCK_APERTURE_START, BUFFER_SIZE);

  test_cmd_destroy_access_pages(self, access_cmd.id, access_cmd.access_pages.out_access_pages_id);
  test_cmd_destroy_access(self, access_cmd.id);

  test_ioctl_destroy(self, new_ioas_id);
});

suite.TEST_F<Self, Variant>(F, 'replace', (self, variant) => {
  const ioas_id = test_ioctl_ioas_alloc(self);

  test_cmd_mock_domain_replace(self, self.stdev_ids[0]!, ioas_id);

  // Replacing the IOAS frees the prior auto-allocated HWPT, so using it again is ENOENT.
  if (variant.mock_domains === 1) test_err_mock_domain_replace(self, 'ENOENT', self.stdev_ids[0]!, self.hwpt_ids[0]!);

  test_cmd_mock_domain_replace(self, self.stdev_ids[0]!, ioas_id);
  if (variant.mock_domains >= 2) {
    test_cmd_mock_domain_replace(self, self.stdev_ids[0]!, self.hwpt_ids[1]!);
    test_cmd_mock_domain_replace(self, self.stdev_ids[0]!, self.hwpt_ids[1]!);
    test_cmd_mock_domain_replace(self, self.stdev_ids[0]!, self.hwpt_ids[0]!);
  }

  test_cmd_mock_domain_replace(self, self.stdev_ids[0]!, self.ioas_id);
  test_ioctl_destroy(self, ioas_id);
});

suite.TEST_F<Self, Variant>(F, 'alloc_hwpt', (self, variant, m) => {
  for (let i = 0; i !== variant.mock_domains; i++) {
    const hwpt_id = [0, 0];

    test_err_hwpt_alloc(self, 'EOPNOTSUPP', self.idev_ids[i]!, self.ioas_id, ~IOMMU_HWPT_ALLOC_NEST_PARENT >>> 0);
    hwpt_id[0] = test_cmd_hwpt_alloc(self, self.idev_ids[i]!, self.ioas_id, 0);
    hwpt_id[1] = test_cmd_hwpt_alloc(self, self.idev_ids[i]!, self.ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT);

    // Do a hw_pagetable rotation test
    test_cmd_mock_domain_replace(self, self.stdev_ids[i]!, hwpt_id[0]!);
    EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, hwpt_id[0]!));
    test_cmd_mock_domain_replace(self, self.stdev_ids[i]!, hwpt_id[1]!);
    EXPECT_ERRNO(m, 'EBUSY', () => _test_ioctl_destroy(self, hwpt_id[1]!));
    test_cmd_mock_domain_replace(self, self.stdev_ids[i]!, self.ioas_id);
    test_ioctl_destroy(self, hwpt_id[1]!);

    const [stddev_id] = test_cmd_mock_domain(self, hwpt_id[0]!);
    test_ioctl_destroy(self, stddev_id);
    test_ioctl_destroy(self, hwpt_id[0]!);
  }
});
