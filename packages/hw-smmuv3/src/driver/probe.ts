// arm_smmu_probe_device / release_device: a master per device, keyed by its StreamID (the PCI RID).
import type { IommuDevice } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import { CTXDESC_LINEAR_CDMAX } from './cd-table.js';
import type { ArmSmmuDevice } from './device.js';
import { SmmuMaster } from './master.js';

/** dev_iommu_priv_get */
export function masterOf(dev: IommuDevice): SmmuMaster {
  if (!(dev.priv instanceof SmmuMaster)) throw new ErrnoError('ENODEV', 'arm-smmu-v3', `${dev.name} is not behind an arm-smmu-v3`);
  return dev.priv;
}

export function probeMaster(smmu: ArmSmmuDevice, dev: IommuDevice): SmmuMaster {
  const sid = dev.rid;
  const other = smmu.streams.get(sid);
  if (other) throw new ErrnoError('ENODEV', 'arm-smmu-v3', `aliasing StreamID 0x${sid.toString(16)} (from ${other.dev.name}) unsupported`);
  smmu.strtab.initSid(sid);
  const master = new SmmuMaster(smmu, dev, sid);
  const f = smmu.features;
  // arm_smmu_enable_pasid: as many SubstreamID bits as the PASID capability and the SMMU both have
  const pasidBits = dev.pci?.pasidBits ?? 0;
  master.ssidBits = Math.min(pasidBits, f.ssidBits);
  if (!f.twoLvlCdtab) master.ssidBits = Math.min(master.ssidBits, CTXDESC_LINEAR_CDMAX);
  // PCI masters cannot stall unless the SMMU forces it
  master.stallEnabled = f.stallForce;
  // arm_smmu_init_pri: a PRI capability behind an SMMU with a PRI queue; a PASID device wants PASIDs in responses
  master.priSupported = f.pri && (dev.pci?.pri ?? false);
  master.prgRespNeedsSsid = master.priSupported && master.ssidBits > 0;
  // dev_iommu_get_max_pasids: the device's PASIDs, capped by the SMMU's 1 << SSIDSIZE
  dev.maxPasids = pasidBits > 0 ? Math.min(2 ** pasidBits, 2 ** f.ssidBits) : 0;
  smmu.streams.set(sid, master);
  dev.priv = master;
  return master;
}

export function releaseMaster(dev: IommuDevice): void {
  const master = masterOf(dev);
  if (master.priSupported && dev.pci) dev.pci.priEnabled = false;
  master.smmu.streams.delete(master.sid);
  master.cdTable?.free();
  master.cdTable = null;
  dev.priv = undefined;
}
