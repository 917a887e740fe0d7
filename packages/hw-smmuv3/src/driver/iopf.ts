// arm_smmu_enable_iopf / arm_smmu_disable_iopf with the PRI patch's arm_smmu_enable_pri: a domain with a fault handler
// on a master that stalls, or that has PRI and ATS, takes recoverable faults; the last such attachment gone turns PRI off.
import { type IommuDomain, iopfDiscardPartial } from '@iommu-lab/iommu-core';
import type { AttachState } from './attach.js';
import type { SmmuMaster } from './master.js';

/** At prepare: whether the new attachment uses iopf, and PRI enabled at the device for it (pci_enable_pri). */
export function enableIopf(state: AttachState, domain: IommuDomain): void {
  const m = state.master;
  state.usingIopf = false;
  if (!domain.iopfHandler) return;
  if (m.stallEnabled) {
    state.usingIopf = true;
    return;
  }
  // Page requests need ATS: a device without it only ever takes unrecoverable faults (not an error).
  if (!m.priSupported || !state.atsEnabled) return;
  state.usingIopf = true;
  if (m.dev.pci) m.dev.pci.priEnabled = true;
}

/** At commit: the attachment at the SubstreamID now uses iopf or not; the old one's reference goes. */
export function commitIopf(state: AttachState): void {
  if (state.usingIopf) state.master.iopfSsids.add(state.ssid);
  else disableIopf(state.master, state.ssid);
}

/** The SubstreamID's attachment no longer takes faults; with none left, PRI is disabled and partial groups dropped. */
export function disableIopf(m: SmmuMaster, ssid: number): void {
  if (!m.iopfSsids.delete(ssid) || m.iopfSsids.size > 0) return;
  const pci = m.dev.pci;
  if (m.priSupported && pci?.priEnabled) {
    pci.priEnabled = false;
    iopfDiscardPartial(m.dev);
  }
}
