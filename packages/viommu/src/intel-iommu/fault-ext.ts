// Host stage-1 faults back to the guest through the iommu-lab extension (NOT in Linux; see iommu-core's
// IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD): under x-flts the VMM creates a VT-d vIOMMU over the nest parent, a vDEVICE
// named by the guest RID and a vEVENTQ; nested HWPTs are allocated over the vIOMMU, and each fault event read
// from the queue is recorded in the emulated unit's fault recording register with the guest's SID/PASID/address.
import {
  IOMMU_LAB_VTD_FAULT_PASID_VALID,
  IOMMU_LAB_VTD_FAULT_READ,
  IOMMU_VEVENTQ_TYPE_IOMMU_LAB_VTD,
  IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD,
  iommu_vevent_iommu_lab_vtd,
  iommufd_vevent_header,
} from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import type { VtdAddressSpace } from './address-space.js';
import type { VtdFaultUnit } from './fault.js';
import type { VtdState } from './state.js';
import { ce, pe } from './structures.js';

const EVENT = iommufd_vevent_header.size + iommu_vevent_iommu_lab_vtd.size;
const DEPTH = 64;

/**
 * Sets the extension up for an address space; false when the host kernel does not have it (a real Linux
 * answers EOPNOTSUPP), and the nested HWPTs then sit on the nest parent as in QEMU.
 */
export function labFaultSetup(s: VtdState, as: VtdAddressSpace, deliver: (as: VtdAddressSpace) => void): boolean {
  const { vfio } = as.dev;
  const be = vfio.backend;
  let viommu: number;
  try {
    viommu = be.viommuAlloc(vfio.devId, as.dev.defaultHwpt, IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD);
  } catch (e) {
    if (e instanceof ErrnoError && e.code === 'EOPNOTSUPP') return false;
    throw e;
  }
  be.vdeviceAlloc(viommu, vfio.devId, BigInt(as.sid));
  const q = be.veventqAlloc(viommu, IOMMU_VEVENTQ_TYPE_IOMMU_LAB_VTD, DEPTH);
  as.labViommuId = viommu;
  as.labEventFd = q.fd;
  s.vm.addFdHandler(q.fd, () => deliver(as));
  return true;
}

/** Reads every queued fault event of the address space and records each in the unit (unless FPD says not to). */
export function labFaultDeliver(s: VtdState, as: VtdAddressSpace, unit: VtdFaultUnit): number {
  const proc = s.vm.vmm;
  let n = 0;
  for (;;) {
    const bytes = proc.read(as.labEventFd, EVENT * DEPTH);
    if (bytes.length === 0) return n;
    for (let off = 0; off + iommufd_vevent_header.size <= bytes.length; ) {
      const h = iommufd_vevent_header.decode(bytes, off);
      off += iommufd_vevent_header.size;
      // A lost-events mark carries no data.
      if (h.flags & 1) continue;
      const e = iommu_vevent_iommu_lab_vtd.decode(bytes, off);
      off += iommu_vevent_iommu_lab_vtd.size;
      n++;
      // vtd_report_fault: every first-stage fault is qualified; FPD in the guest's context or PASID entry silences it.
      if (fpdSet(as)) continue;
      unit.report({
        sid: Number(e.virt_id & 0xffffn),
        pasid: e.flags & IOMMU_LAB_VTD_FAULT_PASID_VALID ? e.pasid : -1,
        addr: e.fault_addr,
        reason: e.reason,
        write: (e.flags & IOMMU_LAB_VTD_FAULT_READ) === 0,
      });
    }
  }
}

function fpdSet(as: VtdAddressSpace): boolean {
  const ctx = new Uint32Array(8);
  if (as.contextWords(ctx) !== 0) return false;
  return ce.fpd(ctx) || (as.pcValid && pe.fpd(as.pcEntry));
}
