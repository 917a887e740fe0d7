// IOMMU_GET_HW_INFO: the vendor's hardware description and the device's capabilities (device.c).
import {
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_CAP_PCI_PASID_EXEC,
  IOMMU_HW_CAP_PCI_PASID_PRIV,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_NONE,
  type iommu_hw_info,
} from '@iommu-lab/iommu-core';
import { ErrnoError, type StructType } from '@iommu-lab/platform';
import { getDevice } from './device.js';
import type { Ucmd } from './ucmd.js';

export function ioctlGetHwInfo(ucmd: Ucmd<StructType<typeof iommu_hw_info>>): void {
  const cmd = ucmd.cmd;
  if (cmd.flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags');
  if (cmd.__reserved.some((b) => b !== 0)) throw new ErrnoError('EOPNOTSUPP', 'ioctl', '__reserved');
  if (!(cmd.flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE)) cmd.in_data_type = IOMMU_HW_INFO_TYPE_DEFAULT;
  const idev = getDevice(ucmd.ctx, cmd.dev_id);
  const dev = idev.dev;
  const ops = dev.unit.ops;
  let data: Uint8Array = new Uint8Array(0);
  if (ops.hwInfo) {
    const info = ops.hwInfo(dev, cmd.in_data_type);
    if (info.type === IOMMU_HW_INFO_TYPE_NONE) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'driver reported no hw_info type');
    cmd.out_data_type = info.type;
    data = info.data;
  } else {
    cmd.out_data_type = IOMMU_HW_INFO_TYPE_NONE;
  }
  const copyLen = Math.min(cmd.data_len, data.length);
  if (copyLen) ucmd.proc.memWrite(cmd.data_uptr, data.subarray(0, copyLen));
  // The rest of a larger user buffer is zeroed so user space sees a clean tail.
  if (copyLen < cmd.data_len) ucmd.proc.memWrite(cmd.data_uptr + BigInt(copyLen), new Uint8Array(cmd.data_len - copyLen));
  cmd.data_len = data.length;
  let caps = 0n;
  if (ops.capable?.(dev, 'DIRTY_TRACKING')) caps |= IOMMU_HW_CAP_DIRTY_TRACKING;
  if (!ops.capable?.(dev, 'PCI_ATS_SUPPORTED')) caps |= IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
  cmd.out_max_pasid_log2 = 0;
  if (dev.maxPasids) {
    cmd.out_max_pasid_log2 = Math.floor(Math.log2(dev.maxPasids));
    if (dev.pci) {
      if (dev.pasidExec) caps |= IOMMU_HW_CAP_PCI_PASID_EXEC;
      if (dev.pasidPriv) caps |= IOMMU_HW_CAP_PCI_PASID_PRIV;
    }
  }
  cmd.out_capabilities = caps;
  ucmd.respond();
}
