// FIXTURE(iommufd_ioas), part 2: copies, IOVA ranges, accesses (pin, rw, fork), HUGE_PAGES, IOVA allocation, dma-bufs.
import {
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_WRITEABLE,
  iommu_ioas_copy,
  iommu_ioas_iova_ranges,
  iommu_iova_range,
  IOMMU_OPTION,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  iommu_option,
} from '@iommu-lab/iommu-core';
import { U64_MAX } from '@iommu-lab/platform';
import { BUFFER_SIZE, HUGEPAGE_SIZE, PAGE_SIZE } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_NE, EXPECT_EQ, EXPECT_ERRNO } from '../harness/harness.js';
import {
  test_cmd_create_access,
  test_cmd_destroy_access,
  test_cmd_destroy_access_pages,
  test_cmd_get_dmabuf,
  test_cmd_revoke_dmabuf,
  test_err_destroy_access_pages,
} from '../harness/utils-access.js';
import {
  inProcess,
  ioctl,
  test_err_ioctl_ioas_map,
  test_err_ioctl_ioas_map_file,
  test_err_ioctl_ioas_map_fixed,
  test_ioctl_destroy,
  test_ioctl_ioas_alloc,
  test_ioctl_ioas_map,
  test_ioctl_ioas_map_file,
  test_ioctl_ioas_map_fixed,
  test_ioctl_ioas_map_fixed_file,
  test_ioctl_ioas_unmap,
  test_ioctl_ioas_unmap_id,
  UserArray,
} from '../harness/utils-ioas.js';
import { test_cmd_hwpt_alloc, test_cmd_mock_domain, test_err_mock_domain, userStruct } from '../harness/utils-mock.js';
import {
  IOMMU_TEST_CMD,
  IOMMU_TEST_OP_ACCESS_PAGES,
  IOMMU_TEST_OP_ACCESS_RW,
  IOMMU_TEST_OP_ADD_RESERVED,
  IOMMU_TEST_OP_MD_CHECK_MAP,
  MOCK_ACCESS_RW_SLOW_PATH,
  MOCK_ACCESS_RW_WRITE,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
  MOCK_PAGE_SIZE,
} from '../uapi/iommufd-test.js';
import type { Self, Variant } from './iommufd-ioas.js';
import { suite } from './suite.js';

const SIZE_MAX = U64_MAX;
const MAP_FAILED = U64_MAX;

/** rand(): a 31-bit LCG (any sequence does; the kernel test only needs data that differs). */
let seed = 1;
function rand(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
  return seed;
}

/** Fills n bytes of user memory at va with rand() (the loops over uint16_t arrays). */
function fill_rand(self: Self, va: bigint, n: number): void {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = rand();
    bytes[i] = r & 0xff;
    bytes[i + 1] = (r >> 8) & 0xff;
  }
  self.env.proc.memWrite(va, bytes);
}

/** memcmp of two ranges of the test process's memory. */
function memcmp(self: Self, a: bigint, b: bigint, n: number): number {
  const x = self.env.proc.memRead(a, n);
  const y = self.env.proc.memRead(b, n);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

suite.TEST_F<Self, Variant>('iommufd_ioas', 'copy_area', (self) => {
  const copy_cmd = {
    size: iommu_ioas_copy.size,
    flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE,
    dst_ioas_id: self.ioas_id,
    src_ioas_id: self.ioas_id,
    length: BigInt(PAGE_SIZE),
    dst_iova: 0n,
    src_iova: 0n,
  };

  test_ioctl_ioas_map_fixed(self, self.env.buffer, PAGE_SIZE, self.base_iova);

  // Copy inside a single IOAS
  copy_cmd.src_iova = BigInt(self.base_iova);
  copy_cmd.dst_iova = BigInt(self.base_iova + PAGE_SIZE);
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_COPY, copy_cmd));

  // Copy between IOAS's
  copy_cmd.src_iova = BigInt(self.base_iova);
  copy_cmd.dst_iova = 0n;
  copy_cmd.dst_ioas_id = test_ioctl_ioas_alloc(self);
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_COPY, copy_cmd));
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'iova_ranges', (self, _v, m) => {
  const test_cmd = { size: 72, op: IOMMU_TEST_OP_ADD_RESERVED, id: self.ioas_id, add_reserved: { start: BigInt(PAGE_SIZE), length: BigInt(PAGE_SIZE) } };
  const ranges = new UserArray(self, iommu_iova_range, self.env.buffer);
  const ranges_cmd = {
    size: iommu_ioas_iova_ranges.size,
    ioas_id: self.ioas_id,
    num_iovas: BUFFER_SIZE / iommu_iova_range.size,
    __reserved: 0,
    allowed_iovas: ranges.uptr,
    out_iova_alignment: 0n,
  };
  const memset_ranges = () => self.env.proc.memWrite(ranges.uptr, new Uint8Array(BUFFER_SIZE));

  // Range can be read
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_IOVA_RANGES, ranges_cmd));
  EXPECT_EQ(m, 1, ranges_cmd.num_iovas);
  if (!self.stdev_id) {
    EXPECT_EQ(m, 0, ranges.get(0).start);
    EXPECT_EQ(m, SIZE_MAX, ranges.get(0).last);
    EXPECT_EQ(m, 1, ranges_cmd.out_iova_alignment);
  } else {
    EXPECT_EQ(m, MOCK_APERTURE_START, ranges.get(0).start);
    EXPECT_EQ(m, MOCK_APERTURE_LAST, ranges.get(0).last);
    EXPECT_EQ(m, MOCK_PAGE_SIZE, ranges_cmd.out_iova_alignment);
  }

  // Buffer too small
  memset_ranges();
  ranges_cmd.num_iovas = 0;
  EXPECT_ERRNO(m, 'EMSGSIZE', () => ioctl(self, IOMMU_IOAS_IOVA_RANGES, ranges_cmd));
  EXPECT_EQ(m, 1, ranges_cmd.num_iovas);
  EXPECT_EQ(m, 0, ranges.get(0).start);
  EXPECT_EQ(m, 0, ranges.get(0).last);

  // 2 ranges
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, test_cmd));
  ranges_cmd.num_iovas = BUFFER_SIZE / iommu_iova_range.size;
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_IOVA_RANGES, ranges_cmd));
  if (!self.stdev_id) {
    EXPECT_EQ(m, 2, ranges_cmd.num_iovas);
    EXPECT_EQ(m, 0, ranges.get(0).start);
    EXPECT_EQ(m, PAGE_SIZE - 1, ranges.get(0).last);
    EXPECT_EQ(m, PAGE_SIZE * 2, ranges.get(1).start);
    EXPECT_EQ(m, SIZE_MAX, ranges.get(1).last);
  } else {
    EXPECT_EQ(m, 1, ranges_cmd.num_iovas);
    EXPECT_EQ(m, MOCK_APERTURE_START, ranges.get(0).start);
    EXPECT_EQ(m, MOCK_APERTURE_LAST, ranges.get(0).last);
  }

  // Buffer too small
  memset_ranges();
  ranges_cmd.num_iovas = 1;
  if (!self.stdev_id) {
    EXPECT_ERRNO(m, 'EMSGSIZE', () => ioctl(self, IOMMU_IOAS_IOVA_RANGES, ranges_cmd));
    EXPECT_EQ(m, 2, ranges_cmd.num_iovas);
    EXPECT_EQ(m, 0, ranges.get(0).start);
    EXPECT_EQ(m, PAGE_SIZE - 1, ranges.get(0).last);
  } else {
    ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_IOVA_RANGES, ranges_cmd));
    EXPECT_EQ(m, 1, ranges_cmd.num_iovas);
    EXPECT_EQ(m, MOCK_APERTURE_START, ranges.get(0).start);
    EXPECT_EQ(m, MOCK_APERTURE_LAST, ranges.get(0).last);
  }
  EXPECT_EQ(m, 0, ranges.get(1).start);
  EXPECT_EQ(m, 0, ranges.get(1).last);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'access_domain_destory', (self) => {
  const access_cmd = {
    size: 72,
    op: IOMMU_TEST_OP_ACCESS_PAGES,
    id: 0,
    access_pages: { flags: 0, out_access_pages_id: 0, iova: BigInt(self.base_iova + PAGE_SIZE), length: BigInt(PAGE_SIZE), uptr: 0n },
  };
  const buf_size = 2 * HUGEPAGE_SIZE;

  const buf = self.env.proc.mmap(buf_size, { shared: true, hugetlb: true, populate: true });
  ASSERT_NE(MAP_FAILED, buf);
  test_ioctl_ioas_map_fixed(self, buf, buf_size, self.base_iova);

  access_cmd.id = test_cmd_create_access(self, self.ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  access_cmd.access_pages.uptr = buf + BigInt(PAGE_SIZE);
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd));

  // Causes a complicated unpin across a huge page boundary
  if (self.stdev_id) test_ioctl_destroy(self, self.stdev_id);

  test_cmd_destroy_access_pages(self, access_cmd.id, access_cmd.access_pages.out_access_pages_id);
  test_cmd_destroy_access(self, access_cmd.id);
  self.env.proc.munmap(buf, buf_size);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'access_pin', (self) => {
  const buffer = self.env.buffer;
  const access_cmd = {
    size: 72,
    op: IOMMU_TEST_OP_ACCESS_PAGES,
    id: 0,
    access_pages: { flags: 0, out_access_pages_id: 0, iova: BigInt(MOCK_APERTURE_START), length: BigInt(BUFFER_SIZE), uptr: buffer },
  };
  const check_map_cmd = { size: 72, op: IOMMU_TEST_OP_MD_CHECK_MAP, id: 0, check_map: { iova: BigInt(MOCK_APERTURE_START), length: BigInt(BUFFER_SIZE), uptr: buffer } };

  access_cmd.id = test_cmd_create_access(self, self.ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);

  for (let npages = 1; npages < BUFFER_SIZE / PAGE_SIZE; npages++) {
    access_cmd.access_pages.length = BigInt(npages * PAGE_SIZE);

    // Single map/unmap
    test_ioctl_ioas_map_fixed(self, buffer, BUFFER_SIZE, MOCK_APERTURE_START);
    ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd));
    test_cmd_destroy_access_pages(self, access_cmd.id, access_cmd.access_pages.out_access_pages_id);

    // Double user
    ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd));
    const access_pages_id = access_cmd.access_pages.out_access_pages_id;
    ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd));
    test_cmd_destroy_access_pages(self, access_cmd.id, access_cmd.access_pages.out_access_pages_id);
    test_cmd_destroy_access_pages(self, access_cmd.id, access_pages_id);

    // Add/remove a domain with a user
    ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd));
    const [mock_stdev_id, mock_hwpt_id] = test_cmd_mock_domain(self, self.ioas_id);
    check_map_cmd.id = mock_hwpt_id;
    ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, check_map_cmd));

    test_ioctl_destroy(self, mock_stdev_id);
    test_cmd_destroy_access_pages(self, access_cmd.id, access_cmd.access_pages.out_access_pages_id);

    test_ioctl_ioas_unmap(self, MOCK_APERTURE_START, BUFFER_SIZE);
  }
  test_cmd_destroy_access(self, access_cmd.id);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'access_pin_unmap', (self) => {
  const access_pages_cmd = {
    size: 72,
    op: IOMMU_TEST_OP_ACCESS_PAGES,
    id: 0,
    access_pages: { flags: 0, out_access_pages_id: 0, iova: BigInt(MOCK_APERTURE_START), length: BigInt(BUFFER_SIZE), uptr: self.env.buffer },
  };

  access_pages_cmd.id = test_cmd_create_access(self, self.ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  test_ioctl_ioas_map_fixed(self, self.env.buffer, BUFFER_SIZE, MOCK_APERTURE_START);
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_pages_cmd));

  // Trigger the unmap op
  test_ioctl_ioas_unmap(self, MOCK_APERTURE_START, BUFFER_SIZE);

  // kernel removed the item for us
  test_err_destroy_access_pages(self, 'ENOENT', access_pages_cmd.id, access_pages_cmd.access_pages.out_access_pages_id);
});

function check_access_rw(self: Self, access_id: number, iova: number, def_flags: number): void {
  const buffer = self.env.buffer;
  const tmp_size = 64;
  const tmp = userStruct(self, new Uint8Array(tmp_size));
  const access_cmd = { size: 72, op: IOMMU_TEST_OP_ACCESS_RW, id: access_id, access_rw: { iova: 0n, length: 0n, uptr: tmp, flags: 0 } };
  const rw = access_cmd.access_rw;

  fill_rand(self, buffer, BUFFER_SIZE);

  for (rw.iova = BigInt(iova + PAGE_SIZE - 50); rw.iova < BigInt(iova + PAGE_SIZE + 50); rw.iova++) {
    for (rw.length = 1n; rw.length < BigInt(tmp_size); rw.length++) {
      rw.flags = def_flags;
      ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd), 'ACCESS_RW read');
      ASSERT_EQ(0, memcmp(self, buffer + (rw.iova - BigInt(iova)), tmp, Number(rw.length)), 'read data');

      fill_rand(self, tmp, tmp_size);
      rw.flags = def_flags | MOCK_ACCESS_RW_WRITE;
      ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd), 'ACCESS_RW write');
      ASSERT_EQ(0, memcmp(self, buffer + (rw.iova - BigInt(iova)), tmp, Number(rw.length)), 'written data');
    }
  }

  // Multi-page test
  const tmp2 = self.env.proc.mmap(BUFFER_SIZE);
  ASSERT_NE(MAP_FAILED, tmp2);
  rw.iova = BigInt(iova);
  rw.length = BigInt(BUFFER_SIZE);
  rw.flags = def_flags;
  rw.uptr = tmp2;
  ASSERT_EQ(0, ioctl(self, IOMMU_TEST_CMD, access_cmd), 'ACCESS_RW multi-page');
  ASSERT_EQ(0, memcmp(self, buffer, tmp2, Number(rw.length)), 'multi-page data');
  self.env.proc.munmap(tmp2, BUFFER_SIZE);
}

suite.TEST_F<Self, Variant>('iommufd_ioas', 'access_rw', (self) => {
  const access_id = test_cmd_create_access(self, self.ioas_id, 0);
  const iova = test_ioctl_ioas_map(self, self.env.buffer, BUFFER_SIZE);
  check_access_rw(self, access_id, Number(iova), 0);
  check_access_rw(self, access_id, Number(iova), MOCK_ACCESS_RW_SLOW_PATH);
  test_ioctl_ioas_unmap(self, iova, BUFFER_SIZE);
  test_cmd_destroy_access(self, access_id);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'access_rw_unaligned', (self) => {
  const access_id = test_cmd_create_access(self, self.ioas_id, 0);

  // Unaligned pages
  const iova = self.base_iova + MOCK_PAGE_SIZE;
  test_ioctl_ioas_map_fixed(self, self.env.buffer, BUFFER_SIZE, iova);
  check_access_rw(self, access_id, iova, 0);
  test_ioctl_ioas_unmap(self, iova, BUFFER_SIZE);
  test_cmd_destroy_access(self, access_id);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'fork_gone', (self) => {
  const access_id = test_cmd_create_access(self, self.ioas_id, 0);

  // Create a mapping with a different mm
  const child = self.env.proc.fork();
  {
    test_ioctl_ioas_map_fixed(inProcess(self, child), self.env.buffer, BUFFER_SIZE, MOCK_APERTURE_START);
    child.exit();
  }
  ASSERT_NE(-1, child.pid);
  ASSERT_EQ(true, child.exited, 'waitpid');

  if (self.stdev_id) {
    // If a domain already existed then everything was pinned within the fork, so this copies from one domain to another.
    test_cmd_mock_domain(self, self.ioas_id);
    check_access_rw(self, access_id, MOCK_APERTURE_START, 0);
  } else {
    // Otherwise we need to actually pin pages which can't happen since the fork is gone.
    test_err_mock_domain(self, 'EFAULT', self.ioas_id);
  }

  test_cmd_destroy_access(self, access_id);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'fork_present', (self) => {
  const access_id = test_cmd_create_access(self, self.ioas_id, 0);

  // The child and the parent run in turn here: the eventfd (child mapped) and the pipe (parent done) are this order.
  // Create a mapping with a different mm
  const child = self.env.proc.fork();
  {
    test_ioctl_ioas_map_fixed(inProcess(self, child), self.env.buffer, BUFFER_SIZE, MOCK_APERTURE_START);
  }
  ASSERT_NE(-1, child.pid);

  // Read pages from the remote process
  test_cmd_mock_domain(self, self.ioas_id);
  check_access_rw(self, access_id, MOCK_APERTURE_START, 0);

  // close(pipefds[1]): the child's read returns and it exits
  child.exit();
  ASSERT_EQ(true, child.exited, 'waitpid');

  test_cmd_destroy_access(self, access_id);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'ioas_option_huge_pages', (self, _v, m) => {
  const cmd = { size: iommu_option.size, option_id: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, val64: 3n, object_id: self.ioas_id };

  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));
  ASSERT_EQ(1, cmd.val64);

  cmd.op = IOMMU_OPTION_OP_SET;
  cmd.val64 = 0n;
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));

  cmd.op = IOMMU_OPTION_OP_GET;
  cmd.val64 = 3n;
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));
  ASSERT_EQ(0, cmd.val64);

  cmd.op = IOMMU_OPTION_OP_SET;
  cmd.val64 = 2n;
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, IOMMU_OPTION, cmd));

  cmd.op = IOMMU_OPTION_OP_SET;
  cmd.val64 = 1n;
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'ioas_iova_alloc', (self, variant) => {
  for (let length = 1; length !== PAGE_SIZE * 2; length++) {
    if (variant.mock_domains && length % MOCK_PAGE_SIZE) {
      test_err_ioctl_ioas_map(self, 'EINVAL', self.env.buffer, length);
    } else {
      const iova = test_ioctl_ioas_map(self, self.env.buffer, length);
      test_ioctl_ioas_unmap(self, iova, length);
    }
  }
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'ioas_align_change', (self, variant, m) => {
  const buffer = self.env.buffer;
  const cmd = {
    size: iommu_option.size,
    option_id: IOMMU_OPTION_HUGE_PAGES,
    op: IOMMU_OPTION_OP_SET,
    object_id: self.ioas_id,
    // 0 means everything must be aligned to PAGE_SIZE
    val64: 0n,
  };

  // We cannot upgrade the alignment using OPTION_HUGE_PAGES when a domain and map are present.
  if (variant.mock_domains) return;

  // We can upgrade to PAGE_SIZE alignment when things are aligned right
  test_ioctl_ioas_map_fixed(self, buffer, PAGE_SIZE, MOCK_APERTURE_START);
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));

  // Misalignment is rejected at map time
  test_err_ioctl_ioas_map_fixed(self, 'EINVAL', buffer + BigInt(MOCK_PAGE_SIZE), PAGE_SIZE, MOCK_APERTURE_START + PAGE_SIZE);
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));

  // Reduce alignment
  cmd.val64 = 1n;
  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));

  // Confirm misalignment is rejected during alignment upgrade
  test_ioctl_ioas_map_fixed(self, buffer + BigInt(MOCK_PAGE_SIZE), PAGE_SIZE, MOCK_APERTURE_START + PAGE_SIZE);
  cmd.val64 = 0n;
  EXPECT_ERRNO(m, 'EADDRINUSE', () => ioctl(self, IOMMU_OPTION, cmd));

  test_ioctl_ioas_unmap(self, MOCK_APERTURE_START + PAGE_SIZE, PAGE_SIZE);
  test_ioctl_ioas_unmap(self, MOCK_APERTURE_START, PAGE_SIZE);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'copy_sweep', (self, variant, m) => {
  const copy_cmd = {
    size: iommu_ioas_copy.size,
    flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE,
    src_ioas_id: self.ioas_id,
    dst_ioas_id: 0,
    dst_iova: BigInt(MOCK_APERTURE_START),
    src_iova: 0n,
    length: BigInt(MOCK_PAGE_SIZE),
  };
  let last_iova: number;

  const dst_ioas_id = test_ioctl_ioas_alloc(self);
  copy_cmd.dst_ioas_id = dst_ioas_id;

  if (variant.mock_domains) last_iova = MOCK_APERTURE_START + BUFFER_SIZE - 1;
  else last_iova = MOCK_APERTURE_START + BUFFER_SIZE - 2;

  test_ioctl_ioas_map_fixed(self, self.env.buffer, last_iova - MOCK_APERTURE_START + 1, MOCK_APERTURE_START);

  for (let iova = MOCK_APERTURE_START - PAGE_SIZE; iova <= last_iova; iova += 511) {
    copy_cmd.src_iova = BigInt(iova);
    if (iova < MOCK_APERTURE_START || iova + Number(copy_cmd.length) - 1 > last_iova) {
      EXPECT_ERRNO(m, 'ENOENT', () => ioctl(self, IOMMU_IOAS_COPY, copy_cmd));
    } else {
      ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_COPY, copy_cmd));
      test_ioctl_ioas_unmap_id(self, dst_ioas_id, copy_cmd.dst_iova, copy_cmd.length);
    }
  }

  test_ioctl_destroy(self, dst_ioas_id);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'dmabuf_simple', (self) => {
  const buf_size = PAGE_SIZE * 4;

  const dfd = test_cmd_get_dmabuf(self, buf_size);
  test_err_ioctl_ioas_map_file(self, 'EINVAL', dfd, 0, 0);
  test_err_ioctl_ioas_map_file(self, 'EINVAL', dfd, buf_size, buf_size);
  test_err_ioctl_ioas_map_file(self, 'EINVAL', dfd, 0, buf_size + 1);
  test_ioctl_ioas_map_file(self, dfd, 0, buf_size);

  self.env.proc.close(dfd);
});

suite.TEST_F<Self, Variant>('iommufd_ioas', 'dmabuf_revoke', (self, variant) => {
  const buf_size = PAGE_SIZE * 4;

  const dfd = test_cmd_get_dmabuf(self, buf_size);
  const iova = test_ioctl_ioas_map_file(self, dfd, 0, buf_size);
  test_cmd_revoke_dmabuf(self, dfd, true);

  if (variant.mock_domains) test_cmd_hwpt_alloc(self, self.device_id, self.ioas_id, 0);

  test_err_ioctl_ioas_map_file(self, 'ENODEV', dfd, 0, buf_size);

  test_cmd_revoke_dmabuf(self, dfd, false);
  test_ioctl_ioas_map_file(self, dfd, 0, buf_size);

  // Restore the iova back
  test_ioctl_ioas_unmap(self, iova, buf_size);
  test_ioctl_ioas_map_fixed_file(self, dfd, 0, buf_size, iova);

  self.env.proc.close(dfd);
});
