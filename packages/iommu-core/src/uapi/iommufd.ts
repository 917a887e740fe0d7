// include/uapi/linux/iommufd.h (Linux 7.3.4): ioctl numbers, enums and struct layouts.
import { defineStruct } from '@iommu-lab/platform';

export const IOMMUFD_TYPE = 0x3b; // ';'

/** _IO(type, nr): no size or direction bits; the struct size is the first u32 of the argument. */
export function _IO(type: number, nr: number): number {
  return (type << 8) | nr;
}

export const IOMMUFD_CMD_BASE = 0x80;
export const IOMMUFD_CMD_DESTROY = 0x80;
export const IOMMUFD_CMD_IOAS_ALLOC = 0x81;
export const IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82;
export const IOMMUFD_CMD_IOAS_COPY = 0x83;
export const IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84;
export const IOMMUFD_CMD_IOAS_MAP = 0x85;
export const IOMMUFD_CMD_IOAS_UNMAP = 0x86;
export const IOMMUFD_CMD_OPTION = 0x87;
export const IOMMUFD_CMD_VFIO_IOAS = 0x88;
export const IOMMUFD_CMD_HWPT_ALLOC = 0x89;
export const IOMMUFD_CMD_GET_HW_INFO = 0x8a;
export const IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING = 0x8b;
export const IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP = 0x8c;
export const IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d;
export const IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e;
export const IOMMUFD_CMD_IOAS_MAP_FILE = 0x8f;
export const IOMMUFD_CMD_VIOMMU_ALLOC = 0x90;
export const IOMMUFD_CMD_VDEVICE_ALLOC = 0x91;
export const IOMMUFD_CMD_IOAS_CHANGE_PROCESS = 0x92;
export const IOMMUFD_CMD_VEVENTQ_ALLOC = 0x93;
export const IOMMUFD_CMD_HW_QUEUE_ALLOC = 0x94;
export const IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA = 0x95;

export const IOMMU_DESTROY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY);
export const IOMMU_IOAS_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC);
export const IOMMU_IOAS_ALLOW_IOVAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS);
export const IOMMU_IOAS_COPY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY);
export const IOMMU_IOAS_IOVA_RANGES = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES);
export const IOMMU_IOAS_MAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP);
export const IOMMU_IOAS_UNMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP);
export const IOMMU_OPTION = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION);
export const IOMMU_VFIO_IOAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VFIO_IOAS);
export const IOMMU_HWPT_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC);
export const IOMMU_GET_HW_INFO = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO);
export const IOMMU_HWPT_SET_DIRTY_TRACKING = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING);
export const IOMMU_HWPT_GET_DIRTY_BITMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP);
export const IOMMU_HWPT_INVALIDATE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE);
export const IOMMU_FAULT_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FAULT_QUEUE_ALLOC);
export const IOMMU_IOAS_MAP_FILE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP_FILE);
export const IOMMU_VIOMMU_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VIOMMU_ALLOC);
export const IOMMU_VDEVICE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VDEVICE_ALLOC);
export const IOMMU_IOAS_CHANGE_PROCESS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_CHANGE_PROCESS);
export const IOMMU_VEVENTQ_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VEVENTQ_ALLOC);
export const IOMMU_HW_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HW_QUEUE_ALLOC);
export const IOMMU_IOAS_NOIOMMU_GET_PA = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA);

// enum iommufd_ioas_map_flags
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;

// enum iommufd_option, enum iommufd_option_ops
export const IOMMU_OPTION_RLIMIT_MODE = 0;
export const IOMMU_OPTION_HUGE_PAGES = 1;
export const IOMMU_OPTION_OP_SET = 0;
export const IOMMU_OPTION_OP_GET = 1;

// enum iommufd_vfio_ioas_op
export const IOMMU_VFIO_IOAS_GET = 0;
export const IOMMU_VFIO_IOAS_SET = 1;
export const IOMMU_VFIO_IOAS_CLEAR = 2;

// enum iommufd_hwpt_alloc_flags
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3;

// enum iommu_hwpt_vtd_s1_flags
export const IOMMU_VTD_S1_SRE = 1 << 0;
export const IOMMU_VTD_S1_EAFE = 1 << 1;
export const IOMMU_VTD_S1_WPE = 1 << 2;

// enum iommu_hwpt_data_type
export const IOMMU_HWPT_DATA_NONE = 0;
export const IOMMU_HWPT_DATA_VTD_S1 = 1;
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2;
export const IOMMU_HWPT_DATA_AMD_GUEST = 3;

// enum iommu_hw_info_vtd_flags, enum iommu_hw_info_arm_smmuv3_flags
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0;
export const IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI = 1 << 0;

// enum iommu_hw_info_type
export const IOMMU_HW_INFO_TYPE_NONE = 0;
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0;
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1;
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2;
export const IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3;
export const IOMMU_HW_INFO_TYPE_AMD = 4;

// enum iommufd_hw_capabilities (u64 bits)
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1n << 0n;
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1n << 1n;
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1n << 2n;
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1n << 3n;

// enum iommufd_hw_info_flags
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0;

// enum iommufd_hwpt_set_dirty_tracking_flags, enum iommufd_hwpt_get_dirty_bitmap_flags
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1;
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1;

// enum iommu_hwpt_invalidate_data_type
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0;
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1;

// enum iommu_hwpt_vtd_s1_invalidate_flags
export const IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0;

// enum iommu_hwpt_pgfault_flags, enum iommu_hwpt_pgfault_perm
export const IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0;
export const IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1;
export const IOMMU_PGFAULT_PERM_READ = 1 << 0;
export const IOMMU_PGFAULT_PERM_WRITE = 1 << 1;
export const IOMMU_PGFAULT_PERM_EXEC = 1 << 2;
export const IOMMU_PGFAULT_PERM_PRIV = 1 << 3;

// enum iommufd_page_response_code
export const IOMMUFD_PAGE_RESP_SUCCESS = 0;
export const IOMMUFD_PAGE_RESP_INVALID = 1;

// enum iommu_viommu_type
export const IOMMU_VIOMMU_TYPE_DEFAULT = 0;
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2;

// enum iommu_veventq_flag, enum iommu_veventq_type
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1 << 0;
export const IOMMU_VEVENTQ_TYPE_DEFAULT = 0;
export const IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = 1;
export const IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV = 2;

// enum iommu_hw_queue_type
export const IOMMU_HW_QUEUE_TYPE_DEFAULT = 0;
export const IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV = 1;

export const iommu_destroy = defineStruct('iommu_destroy', 8, { size: [0, 'u32'], id: [4, 'u32'] });

export const iommu_ioas_alloc = defineStruct('iommu_ioas_alloc', 12, { size: [0, 'u32'], flags: [4, 'u32'], out_ioas_id: [8, 'u32'] });

export const iommu_iova_range = defineStruct('iommu_iova_range', 16, { start: [0, 'u64'], last: [8, 'u64'] });

export const iommu_ioas_iova_ranges = defineStruct('iommu_ioas_iova_ranges', 32, {
  size: [0, 'u32'],
  ioas_id: [4, 'u32'],
  num_iovas: [8, 'u32'],
  __reserved: [12, 'u32'],
  allowed_iovas: [16, 'u64'],
  out_iova_alignment: [24, 'u64'],
});

export const iommu_ioas_allow_iovas = defineStruct('iommu_ioas_allow_iovas', 24, {
  size: [0, 'u32'],
  ioas_id: [4, 'u32'],
  num_iovas: [8, 'u32'],
  __reserved: [12, 'u32'],
  allowed_iovas: [16, 'u64'],
});

export const iommu_ioas_map = defineStruct('iommu_ioas_map', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  ioas_id: [8, 'u32'],
  __reserved: [12, 'u32'],
  user_va: [16, 'u64'],
  length: [24, 'u64'],
  iova: [32, 'u64'],
});

export const iommu_ioas_noiommu_get_pa = defineStruct('iommu_ioas_noiommu_get_pa', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  ioas_id: [8, 'u32'],
  __reserved: [12, 'u32'],
  iova: [16, 'u64'],
  length: [24, 'u64'],
  out_phys: [32, 'u64'],
});

export const iommu_ioas_map_file = defineStruct('iommu_ioas_map_file', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  ioas_id: [8, 'u32'],
  fd: [12, 's32'],
  start: [16, 'u64'],
  length: [24, 'u64'],
  iova: [32, 'u64'],
});

export const iommu_ioas_copy = defineStruct('iommu_ioas_copy', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  dst_ioas_id: [8, 'u32'],
  src_ioas_id: [12, 'u32'],
  length: [16, 'u64'],
  dst_iova: [24, 'u64'],
  src_iova: [32, 'u64'],
});

export const iommu_ioas_unmap = defineStruct('iommu_ioas_unmap', 24, {
  size: [0, 'u32'],
  ioas_id: [4, 'u32'],
  iova: [8, 'u64'],
  length: [16, 'u64'],
});

export const iommu_option = defineStruct('iommu_option', 24, {
  size: [0, 'u32'],
  option_id: [4, 'u32'],
  op: [8, 'u16'],
  __reserved: [10, 'u16'],
  object_id: [12, 'u32'],
  val64: [16, 'u64'],
});

export const iommu_vfio_ioas = defineStruct('iommu_vfio_ioas', 12, {
  size: [0, 'u32'],
  ioas_id: [4, 'u32'],
  op: [8, 'u16'],
  __reserved: [10, 'u16'],
});

export const iommu_hwpt_vtd_s1 = defineStruct('iommu_hwpt_vtd_s1', 24, {
  flags: [0, 'u64'],
  pgtbl_addr: [8, 'u64'],
  addr_width: [16, 'u32'],
  __reserved: [20, 'u32'],
});

export const iommu_hwpt_arm_smmuv3 = defineStruct('iommu_hwpt_arm_smmuv3', 16, { ste: [0, 'u64', 2] });

export const iommu_hwpt_amd_guest = defineStruct('iommu_hwpt_amd_guest', 32, { dte: [0, 'u64', 4] });

export const iommu_hwpt_alloc = defineStruct('iommu_hwpt_alloc', 48, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  dev_id: [8, 'u32'],
  pt_id: [12, 'u32'],
  out_hwpt_id: [16, 'u32'],
  __reserved: [20, 'u32'],
  data_type: [24, 'u32'],
  data_len: [28, 'u32'],
  data_uptr: [32, 'u64'],
  fault_id: [40, 'u32'],
  __reserved2: [44, 'u32'],
});

export const iommu_hw_info_vtd = defineStruct('iommu_hw_info_vtd', 24, {
  flags: [0, 'u32'],
  __reserved: [4, 'u32'],
  cap_reg: [8, 'u64'],
  ecap_reg: [16, 'u64'],
});

export const iommu_hw_info_arm_smmuv3 = defineStruct('iommu_hw_info_arm_smmuv3', 40, {
  flags: [0, 'u32'],
  __reserved: [4, 'u32'],
  idr: [8, 'u32', 6],
  iidr: [32, 'u32'],
  aidr: [36, 'u32'],
});

export const iommu_hw_info_tegra241_cmdqv = defineStruct('iommu_hw_info_tegra241_cmdqv', 8, {
  flags: [0, 'u32'],
  version: [4, 'u8'],
  log2vcmdqs: [5, 'u8'],
  log2vsids: [6, 'u8'],
  __reserved: [7, 'u8'],
});

export const iommu_hw_info_amd = defineStruct('iommu_hw_info_amd', 16, { efr: [0, 'u64'], efr2: [8, 'u64'] });

export const iommu_hw_info = defineStruct('iommu_hw_info', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  dev_id: [8, 'u32'],
  data_len: [12, 'u32'],
  data_uptr: [16, 'u64'],
  in_data_type: [24, 'u32'],
  out_data_type: [24, 'u32'],
  out_max_pasid_log2: [28, 'u8'],
  __reserved: [29, 'u8', 3],
  out_capabilities: [32, 'u64'],
});

export const iommu_hwpt_set_dirty_tracking = defineStruct('iommu_hwpt_set_dirty_tracking', 16, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  hwpt_id: [8, 'u32'],
  __reserved: [12, 'u32'],
});

export const iommu_hwpt_get_dirty_bitmap = defineStruct('iommu_hwpt_get_dirty_bitmap', 48, {
  size: [0, 'u32'],
  hwpt_id: [4, 'u32'],
  flags: [8, 'u32'],
  __reserved: [12, 'u32'],
  iova: [16, 'u64'],
  length: [24, 'u64'],
  page_size: [32, 'u64'],
  data: [40, 'u64'],
});

export const iommu_hwpt_vtd_s1_invalidate = defineStruct('iommu_hwpt_vtd_s1_invalidate', 24, {
  addr: [0, 'u64'],
  npages: [8, 'u64'],
  flags: [16, 'u32'],
  __reserved: [20, 'u32'],
});

export const iommu_viommu_arm_smmuv3_invalidate = defineStruct('iommu_viommu_arm_smmuv3_invalidate', 16, { cmd: [0, 'u64', 2] });

export const iommu_hwpt_invalidate = defineStruct('iommu_hwpt_invalidate', 32, {
  size: [0, 'u32'],
  hwpt_id: [4, 'u32'],
  data_uptr: [8, 'u64'],
  data_type: [16, 'u32'],
  entry_len: [20, 'u32'],
  entry_num: [24, 'u32'],
  __reserved: [28, 'u32'],
});

export const iommu_hwpt_pgfault = defineStruct('iommu_hwpt_pgfault', 40, {
  flags: [0, 'u32'],
  dev_id: [4, 'u32'],
  pasid: [8, 'u32'],
  grpid: [12, 'u32'],
  perm: [16, 'u32'],
  __reserved: [20, 'u32'],
  addr: [24, 'u64'],
  length: [32, 'u32'],
  cookie: [36, 'u32'],
});

export const iommu_hwpt_page_response = defineStruct('iommu_hwpt_page_response', 8, { cookie: [0, 'u32'], code: [4, 'u32'] });

export const iommu_fault_alloc = defineStruct('iommu_fault_alloc', 16, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  out_fault_id: [8, 'u32'],
  out_fault_fd: [12, 'u32'],
});

export const iommu_viommu_tegra241_cmdqv = defineStruct('iommu_viommu_tegra241_cmdqv', 16, {
  out_vintf_mmap_offset: [0, 'u64'],
  out_vintf_mmap_length: [8, 'u64'],
});

export const iommu_viommu_alloc = defineStruct('iommu_viommu_alloc', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  type: [8, 'u32'],
  dev_id: [12, 'u32'],
  hwpt_id: [16, 'u32'],
  out_viommu_id: [20, 'u32'],
  data_len: [24, 'u32'],
  __reserved: [28, 'u32'],
  data_uptr: [32, 'u64'],
});

export const iommu_vdevice_alloc = defineStruct('iommu_vdevice_alloc', 24, {
  size: [0, 'u32'],
  viommu_id: [4, 'u32'],
  dev_id: [8, 'u32'],
  out_vdevice_id: [12, 'u32'],
  virt_id: [16, 'u64'],
});

export const iommu_ioas_change_process = defineStruct('iommu_ioas_change_process', 8, { size: [0, 'u32'], __reserved: [4, 'u32'] });

export const iommufd_vevent_header = defineStruct('iommufd_vevent_header', 8, { flags: [0, 'u32'], sequence: [4, 'u32'] });

export const iommu_vevent_arm_smmuv3 = defineStruct('iommu_vevent_arm_smmuv3', 32, { evt: [0, 'u64', 4] });

export const iommu_vevent_tegra241_cmdqv = defineStruct('iommu_vevent_tegra241_cmdqv', 16, { lvcmdq_err_map: [0, 'u64', 2] });

export const iommu_veventq_alloc = defineStruct('iommu_veventq_alloc', 32, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  viommu_id: [8, 'u32'],
  type: [12, 'u32'],
  veventq_depth: [16, 'u32'],
  out_veventq_id: [20, 'u32'],
  out_veventq_fd: [24, 'u32'],
  __reserved: [28, 'u32'],
});

export const iommu_hw_queue_alloc = defineStruct('iommu_hw_queue_alloc', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  viommu_id: [8, 'u32'],
  type: [12, 'u32'],
  index: [16, 'u32'],
  out_hw_queue_id: [20, 'u32'],
  nesting_parent_iova: [24, 'u64'],
  length: [32, 'u64'],
});
