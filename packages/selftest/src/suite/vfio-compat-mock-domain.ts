// FIXTURE(vfio_compat_mock_domain): the VFIO type1 container ioctls on an iommufd with a mock device attached.
import {
  IOMMU_OPTION,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_SET,
  iommu_option,
  iommu_vfio_ioas,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  vfio_info_cap_header,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  vfio_iommu_type1_info_cap_iova_range,
  vfio_iommu_type1_info_dma_avail,
  VFIO_IOMMU_UNMAP_DMA,
  vfio_iova_range,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
} from '@iommu-lab/iommu-core';
import { BUFFER_SIZE, HUGEPAGE_SIZE, PAGE_SIZE, type SelfBase, selfBase } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_GE, ASSERT_LT, ASSERT_NE, EXPECT_EQ, EXPECT_ERRNO, type Metadata } from '../harness/harness.js';
import { glibc_rand, MAP_FAILED } from '../harness/utils-domain.js';
import { ioctl, teardown_iommufd, test_ioctl_ioas_alloc } from '../harness/utils-ioas.js';
import { test_cmd_mock_domain } from '../harness/utils-mock.js';
import { MOCK_APERTURE_LAST, MOCK_APERTURE_START } from '../uapi/iommufd-test.js';
import { suite } from './suite.js';

interface Self extends SelfBase {
  ioas_id: number;
}

interface Variant {
  version: number;
}

const F = 'vfio_compat_mock_domain';

suite.FIXTURE<Self>(F, (m) => ({ ...selfBase(m), ioas_id: 0 }));

suite.FIXTURE_SETUP<Self, Variant>(F, (self, variant) => {
  const vfio_ioas_cmd = { size: iommu_vfio_ioas.size, ioas_id: 0, op: IOMMU_VFIO_IOAS_SET };

  self.fd = self.env.proc.open('/dev/iommu');
  ASSERT_NE(-1, self.fd);

  // Create what VFIO would consider a group
  self.ioas_id = test_ioctl_ioas_alloc(self);
  test_cmd_mock_domain(self, self.ioas_id);

  // Attach it to the vfio compat
  vfio_ioas_cmd.ioas_id = self.ioas_id;
  ASSERT_EQ(0, ioctl(self, IOMMU_VFIO_IOAS, vfio_ioas_cmd));
  ASSERT_EQ(0, ioctl(self, VFIO_SET_IOMMU, variant.version));
});

suite.FIXTURE_TEARDOWN<Self, Variant>(F, (self) => teardown_iommufd(self, self.fd));

suite.FIXTURE_VARIANT_ADD<Variant>(F, 'Ver1v2', { version: VFIO_TYPE1v2_IOMMU });
suite.FIXTURE_VARIANT_ADD<Variant>(F, 'Ver1v0', { version: VFIO_TYPE1_IOMMU });

suite.TEST_F<Self, Variant>(F, 'simple_close', () => {});

suite.TEST_F<Self, Variant>(F, 'option_huge_pages', (self, variant) => {
  const cmd = { size: iommu_option.size, option_id: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, val64: 3n, object_id: self.ioas_id };

  ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, cmd));
  if (variant.version === VFIO_TYPE1_IOMMU) ASSERT_EQ(0, cmd.val64);
  else ASSERT_EQ(1, cmd.val64);
});

// The ioctl's command sits at the start of `buffer`; nothing past its argsz may be written.
function is_filled(buf: Uint8Array, c: number): boolean {
  return buf.every((b) => b === c);
}

function ioctl_check_buf(self: Self, cmd: number): void {
  const proc = self.env.proc;
  const buffer = self.env.buffer;
  const _cmd_len = new DataView(proc.memRead(buffer, 4).buffer).getUint32(0, true);

  proc.memWrite(buffer + BigInt(_cmd_len), new Uint8Array(BUFFER_SIZE - _cmd_len).fill(0xaa));
  ASSERT_EQ(0, ioctl(self, cmd, buffer));
  ASSERT_EQ(true, is_filled(proc.memRead(buffer + BigInt(_cmd_len), BUFFER_SIZE - _cmd_len), 0xaa));
}

function check_vfio_info_cap_chain(self: Self, m: Metadata, info_cmd: { argsz: number; cap_offset: number }): void {
  const proc = self.env.proc;
  const buffer = self.env.buffer;
  const at = (off: number) => vfio_info_cap_header.decode(proc.memRead(buffer + BigInt(off), vfio_info_cap_header.size));

  ASSERT_GE(info_cmd.argsz, info_cmd.cap_offset + vfio_info_cap_header.size);
  let capOff = info_cmd.cap_offset;
  let cap = at(capOff);
  for (;;) {
    let cap_size: number;

    if (cap.next) cap_size = cap.next - capOff;
    else cap_size = info_cmd.argsz - capOff;

    switch (cap.id) {
      case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: {
        const raw = proc.memRead(buffer + BigInt(capOff), vfio_iommu_type1_info_cap_iova_range.size + vfio_iova_range.size);
        const data = vfio_iommu_type1_info_cap_iova_range.decode(raw);
        const range0 = vfio_iova_range.decode(raw.subarray(vfio_iommu_type1_info_cap_iova_range.size));

        ASSERT_EQ(1, data.header.version);
        ASSERT_EQ(1, data.nr_iovas);
        EXPECT_EQ(m, MOCK_APERTURE_START, range0.start);
        EXPECT_EQ(m, MOCK_APERTURE_LAST, range0.end);
        break;
      }
      case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: {
        const data = vfio_iommu_type1_info_dma_avail.decode(proc.memRead(buffer + BigInt(capOff), vfio_iommu_type1_info_dma_avail.size));

        ASSERT_EQ(1, data.header.version);
        ASSERT_EQ(vfio_iommu_type1_info_dma_avail.size, cap_size);
        break;
      }
      default:
        ASSERT_EQ(false, true);
        break;
    }
    if (!cap.next) break;

    ASSERT_GE(info_cmd.argsz, cap.next + vfio_info_cap_header.size);
    ASSERT_GE(cap.next, capOff);
    capOff = cap.next;
    cap = at(capOff);
  }
}

suite.TEST_F<Self, Variant>(F, 'get_info', (self, _v, m) => {
  const proc = self.env.proc;
  const buffer = self.env.buffer;
  const set = (argsz: number) => proc.memWrite(buffer, vfio_iommu_type1_info.encode({ argsz }));
  const info_cmd = () => vfio_iommu_type1_info.decode(proc.memRead(buffer, vfio_iommu_type1_info.size));

  // Pre-cap ABI
  set(vfio_iommu_type1_info.fields.cap_offset[0]);
  ioctl_check_buf(self, VFIO_IOMMU_GET_INFO);
  ASSERT_NE(0, info_cmd().iova_pgsizes);
  ASSERT_EQ(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, info_cmd().flags);

  // Read the cap chain size
  set(vfio_iommu_type1_info.size);
  ioctl_check_buf(self, VFIO_IOMMU_GET_INFO);
  ASSERT_NE(0, info_cmd().iova_pgsizes);
  ASSERT_EQ(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, info_cmd().flags);
  ASSERT_EQ(0, info_cmd().cap_offset);
  ASSERT_LT(vfio_iommu_type1_info.size, info_cmd().argsz);

  // Read the caps, kernel should never create a corrupted caps
  const caplen = info_cmd().argsz;
  for (let i = vfio_iommu_type1_info.size; i < caplen; i++) {
    set(i);
    ioctl_check_buf(self, VFIO_IOMMU_GET_INFO);
    ASSERT_EQ(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, info_cmd().flags);
    if (!info_cmd().cap_offset) continue;
    check_vfio_info_cap_chain(self, m, info_cmd());
  }
});

function shuffle_array(array: bigint[], rand: () => number): void {
  const nelms = array.length;
  for (let i = 0; i !== nelms; i++) {
    const tmp = array[i]!;
    const other = rand() % (nelms - i);

    array[i] = array[other]!;
    array[other] = tmp;
  }
}

suite.TEST_F<Self, Variant>(F, 'map', (self, _v, m) => {
  const map_cmd = {
    argsz: vfio_iommu_type1_dma_map.size,
    flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
    vaddr: self.env.buffer,
    size: BigInt(BUFFER_SIZE),
    iova: BigInt(MOCK_APERTURE_START),
  };
  const unmap_cmd = { argsz: vfio_iommu_type1_dma_unmap.size, flags: 0, size: BigInt(BUFFER_SIZE), iova: BigInt(MOCK_APERTURE_START) };
  const pages_iova: bigint[] = new Array<bigint>(BUFFER_SIZE / PAGE_SIZE).fill(0n);

  // Simple map/unmap
  ASSERT_EQ(0, ioctl(self, VFIO_IOMMU_MAP_DMA, map_cmd));
  ASSERT_EQ(0, ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));
  ASSERT_EQ(BUFFER_SIZE, unmap_cmd.size);
  // Unmap of empty is success
  ASSERT_EQ(0, ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));

  // UNMAP_FLAG_ALL requires 0 iova/size
  ASSERT_EQ(0, ioctl(self, VFIO_IOMMU_MAP_DMA, map_cmd));
  unmap_cmd.flags = VFIO_DMA_UNMAP_FLAG_ALL;
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));

  unmap_cmd.iova = 0n;
  unmap_cmd.size = 0n;
  ASSERT_EQ(0, ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));
  ASSERT_EQ(BUFFER_SIZE, unmap_cmd.size);

  // Small pages
  for (let i = 0; i !== pages_iova.length; i++) {
    map_cmd.iova = pages_iova[i] = BigInt(MOCK_APERTURE_START + i * PAGE_SIZE);
    map_cmd.vaddr = self.env.buffer + BigInt(i * PAGE_SIZE);
    map_cmd.size = BigInt(PAGE_SIZE);
    ASSERT_EQ(0, ioctl(self, VFIO_IOMMU_MAP_DMA, map_cmd));
  }
  shuffle_array(pages_iova, glibc_rand());

  unmap_cmd.flags = 0;
  unmap_cmd.size = BigInt(PAGE_SIZE);
  for (let i = 0; i !== pages_iova.length; i++) {
    unmap_cmd.iova = pages_iova[i]!;
    ASSERT_EQ(0, ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));
  }
});

suite.TEST_F<Self, Variant>(F, 'huge_map', (self, variant, m) => {
  const buf_size = HUGEPAGE_SIZE * 2;
  const map_cmd = {
    argsz: vfio_iommu_type1_dma_map.size,
    flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
    vaddr: 0n,
    size: BigInt(buf_size),
    iova: BigInt(MOCK_APERTURE_START),
  };
  const unmap_cmd = { argsz: vfio_iommu_type1_dma_unmap.size, flags: 0, size: 0n, iova: 0n };
  const pages_iova: bigint[] = new Array<bigint>(16).fill(0n);

  // Test huge pages and splitting
  const buf = self.env.proc.mmap(buf_size, { prot: 'rw', shared: true, hugetlb: true, populate: true });
  ASSERT_NE(MAP_FAILED, buf);
  map_cmd.vaddr = buf;
  ASSERT_EQ(0, ioctl(self, VFIO_IOMMU_MAP_DMA, map_cmd));

  unmap_cmd.size = BigInt(buf_size / pages_iova.length);
  for (let i = 0; i !== pages_iova.length; i++) pages_iova[i] = BigInt(MOCK_APERTURE_START) + BigInt(i) * unmap_cmd.size;
  shuffle_array(pages_iova, glibc_rand());

  // type1 mode can cut up larger mappings, type1v2 always fails
  for (let i = 0; i !== pages_iova.length; i++) {
    unmap_cmd.iova = pages_iova[i]!;
    unmap_cmd.size = BigInt(buf_size / pages_iova.length);
    if (variant.version === VFIO_TYPE1_IOMMU) ASSERT_EQ(0, ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));
    else EXPECT_ERRNO(m, 'ENOENT', () => ioctl(self, VFIO_IOMMU_UNMAP_DMA, unmap_cmd));
  }
});
