// include/uapi/linux/vfio.h (Linux 7.3.4): the type1 container ioctls iommufd emulates and the device cdev ioctls.
import { defineStruct } from '@iommu-lab/platform';
import { _IO } from './iommufd.js';

export const VFIO_API_VERSION = 0;
export const VFIO_TYPE = 0x3b; // ';'
export const VFIO_BASE = 100;

// Extensions (VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU arguments).
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_DMA_CC_IOMMU = 4;
export const __VFIO_RESERVED_TYPE1_NESTING_IOMMU = 6;
export const VFIO_NOIOMMU_IOMMU = 8;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_UPDATE_VADDR = 10;

export const VFIO_GET_API_VERSION = _IO(VFIO_TYPE, VFIO_BASE + 0);
export const VFIO_CHECK_EXTENSION = _IO(VFIO_TYPE, VFIO_BASE + 1);
export const VFIO_SET_IOMMU = _IO(VFIO_TYPE, VFIO_BASE + 2);
export const VFIO_DEVICE_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 7);
export const VFIO_IOMMU_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12);
export const VFIO_IOMMU_MAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 13);
export const VFIO_IOMMU_UNMAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 14);
export const VFIO_IOMMU_DIRTY_PAGES = _IO(VFIO_TYPE, VFIO_BASE + 17);
export const VFIO_DEVICE_BIND_IOMMUFD = _IO(VFIO_TYPE, VFIO_BASE + 18);
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 19);
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 20);

export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;

export const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
export const VFIO_DEVICE_FLAGS_CAPS = 1 << 7;
export const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0;
export const VFIO_DEVICE_ATTACH_PASID = 1 << 0;
export const VFIO_DEVICE_DETACH_PASID = 1 << 0;

export const vfio_info_cap_header = defineStruct('vfio_info_cap_header', 8, { id: [0, 'u16'], version: [2, 'u16'], next: [4, 'u32'] });

export const vfio_iommu_type1_info = defineStruct('vfio_iommu_type1_info', 24, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  iova_pgsizes: [8, 'u64'],
  cap_offset: [16, 'u32'],
  pad: [20, 'u32'],
});

export const vfio_iova_range = defineStruct('vfio_iova_range', 16, { start: [0, 'u64'], end: [8, 'u64'] });

/** The fixed part; iova_ranges[nr_iovas] (16 bytes each) follow at offset 16. */
export const vfio_iommu_type1_info_cap_iova_range = defineStruct('vfio_iommu_type1_info_cap_iova_range', 16, {
  header: [0, vfio_info_cap_header],
  nr_iovas: [8, 'u32'],
  reserved: [12, 'u32'],
});

export const vfio_iommu_type1_info_dma_avail = defineStruct('vfio_iommu_type1_info_dma_avail', 12, {
  header: [0, vfio_info_cap_header],
  avail: [8, 'u32'],
});

export const vfio_iommu_type1_dma_map = defineStruct('vfio_iommu_type1_dma_map', 32, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  vaddr: [8, 'u64'],
  iova: [16, 'u64'],
  size: [24, 'u64'],
});

export const vfio_iommu_type1_dma_unmap = defineStruct('vfio_iommu_type1_dma_unmap', 24, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  iova: [8, 'u64'],
  size: [16, 'u64'],
});

export const vfio_device_info = defineStruct('vfio_device_info', 24, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  num_regions: [8, 'u32'],
  num_irqs: [12, 'u32'],
  cap_offset: [16, 'u32'],
  pad: [20, 'u32'],
});

export const vfio_device_bind_iommufd = defineStruct('vfio_device_bind_iommufd', 24, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  iommufd: [8, 's32'],
  out_devid: [12, 'u32'],
  token_uuid_ptr: [16, 'u64'],
});

export const vfio_device_attach_iommufd_pt = defineStruct('vfio_device_attach_iommufd_pt', 16, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  pt_id: [8, 'u32'],
  pasid: [12, 'u32'],
});

export const vfio_device_detach_iommufd_pt = defineStruct('vfio_device_detach_iommufd_pt', 12, {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  pasid: [8, 'u32'],
});
