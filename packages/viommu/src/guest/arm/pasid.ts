// A PASID of a master on the guest's arm-smmu-v3 (arm_smmu_set_pasid, arm_smmu_blocking_set_dev_pasid, with the PRI
// series' iopf enable): the CD at the SubstreamID in the master's CD table written hitlessly with CFGI_CD syncs,
// the ATC of the SubstreamID invalidated, PRI enabled at the device while some PASID takes page faults.
import { ATC_INV_SIZE_ALL } from '@iommu-lab/hw-smmuv3/format';
import { ErrnoError } from '@iommu-lab/platform';
import { cdUsed, writeEntry } from './entry-writer.js';
import type { ArmSmmuGuest, ArmSmmuMaster } from './smmu.js';

const CD_ZERO: readonly bigint[] = new Array<bigint>(8).fill(0n);

/** arm_smmu_set_pasid for a domain with a fault handler: the CD, then (attach_commit) the ATC of the SubstreamID. */
export function armSmmuSetPasid(smmu: ArmSmmuGuest, m: ArmSmmuMaster, pasid: number, cd: readonly bigint[]): void {
  // The RID's stage-1 domain keeps the CD table in the STE; PASIDs ride on it (S1DSS = SSID0).
  if (!m.domain) throw new ErrnoError('EINVAL', 'arm-smmu-v3', `sid 0x${m.sid.toString(16)}: the CD table is not in the STE`);
  if (pasid <= 0 || pasid >= 2 ** m.ssidBits) throw new ErrnoError('EINVAL', 'arm-smmu-v3', `sid 0x${m.sid.toString(16)}: SubstreamID ${pasid} out of range`);
  const ram = smmu.vm.ram;
  const cdptr = m.cdTable.cdPtr(pasid, true, () => smmu.syncCd(m, pasid, false));
  const ats = smmu.atsEnabled(m);
  // arm_smmu_enable_iopf -> arm_smmu_enable_pri: page requests need ATS at the device.
  if (m.priSupported && ats) m.priEnabled = true;
  writeEntry(ram, cdptr, cd, { getUsed: cdUsed, sync: () => smmu.syncCd(m, pasid, true) });
  if (m.priSupported && ats) m.iopfSsids.add(pasid);
  if (ats) smmu.cmdWithSync((b) => b.atcInv(m.sid, pasid, 0, ATC_INV_SIZE_ALL));
}

/** arm_smmu_blocking_set_dev_pasid: the CD cleared (V=0 first), the SubstreamID's ATC, iopf (and at the last, PRI) off. */
export function armSmmuClearPasid(smmu: ArmSmmuGuest, m: ArmSmmuMaster, pasid: number): void {
  const cdptr = m.cdTable.cdPtr(pasid, false);
  if (cdptr >= 0) writeEntry(smmu.vm.ram, cdptr, CD_ZERO, { getUsed: cdUsed, sync: () => smmu.syncCd(m, pasid, true) });
  if (smmu.atsEnabled(m)) smmu.cmdWithSync((b) => b.atcInv(m.sid, pasid, 0, ATC_INV_SIZE_ALL));
  if (m.iopfSsids.delete(pasid) && m.iopfSsids.size === 0) m.priEnabled = false;
}
