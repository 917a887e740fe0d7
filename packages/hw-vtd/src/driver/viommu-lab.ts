// iommu-lab extension, NOT in Linux: a VT-d vIOMMU (IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD) whose nested domains' first-stage
// faults go to user space as vEVENTs (IOMMU_VEVENTQ_TYPE_IOMMU_LAB_VTD) naming the vDEVICE, so a VMM can record them
// in its emulated unit. Linux 7.3 has no such channel: on real Linux the VMM's VIOMMU_ALLOC fails and it goes without.
import {
  type IommuDevice,
  type IommuUnit,
  type IommuViommu,
  IOMMU_LAB_VTD_FAULT_EXEC,
  IOMMU_LAB_VTD_FAULT_PASID_VALID,
  IOMMU_LAB_VTD_FAULT_PRIV,
  IOMMU_LAB_VTD_FAULT_READ,
  IOMMU_VEVENTQ_TYPE_IOMMU_LAB_VTD,
  IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD,
  iommu_vevent_iommu_lab_vtd,
  type ViommuCore,
} from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import type { NestedDomain } from './domain-nested.js';
import { PagingDomain } from './domain-paging.js';
import type { DmarFaultHandler, VtdFaultReport } from './fault-handler.js';

/** Reasons that describe the guest's own first stage (VT-d 7.1.3): FS entry faults and request/permission faults. */
function isFirstStageReason(r: number): boolean {
  return (r >= 0x70 && r <= 0x77) || (r >= 0x80 && r <= 0x87);
}

export class LabVtdViommu implements IommuViommu {
  readonly type = IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD;
  /** Nested domains allocated over this vIOMMU. */
  readonly nested = new Set<NestedDomain>();
  /** Faults reported to user space. */
  reported = 0;
  private readonly unsubscribe: () => void;

  constructor(
    readonly unit: IommuUnit,
    readonly parent: PagingDomain,
    private readonly core: ViommuCore,
    faults: DmarFaultHandler,
  ) {
    this.unsubscribe = faults.onFault((f) => this.fault(f));
  }

  /** A fault the host's handler read: if a nested domain of ours translates that RID/PASID, tell user space. */
  private fault(f: VtdFaultReport): void {
    if (!isFirstStageReason(f.reason)) return;
    for (const d of this.nested) {
      for (const info of d.devices) if (info.sid === f.sid && f.pasid <= 0) return this.report(info.dev, f);
      for (const p of d.devPasids) if (p.info.sid === f.sid && p.pasid === f.pasid) return this.report(p.info.dev, f);
    }
  }

  private report(dev: IommuDevice, f: VtdFaultReport): void {
    const virtId = this.core.virtIdOf(dev);
    if (virtId === null) return;
    const flags = (f.pasid >= 0 ? IOMMU_LAB_VTD_FAULT_PASID_VALID : 0) | (f.type === 'read' ? IOMMU_LAB_VTD_FAULT_READ : 0) | (f.exe ? IOMMU_LAB_VTD_FAULT_EXEC : 0) | (f.priv ? IOMMU_LAB_VTD_FAULT_PRIV : 0);
    const data = iommu_vevent_iommu_lab_vtd.encode({ fault_addr: f.address, virt_id: virtId, pasid: f.pasid >= 0 ? f.pasid : 0, reason: f.reason, flags });
    try {
      this.core.reportEvent(IOMMU_VEVENTQ_TYPE_IOMMU_LAB_VTD, data);
      this.reported++;
    } catch (e) {
      // No vEVENTQ of that type yet: the event is dropped, as iommufd_viommu_report_event does.
      if (!(e instanceof ErrnoError)) throw e;
    }
  }

  destroy(): void {
    this.unsubscribe();
  }
}

/** viommu_alloc for the extension type over a second-stage nest parent. */
export function labVtdViommuAlloc(dev: IommuDevice, parent: unknown, type: number, hasData: boolean, core: ViommuCore, faults: DmarFaultHandler, nestedSupported: boolean): LabVtdViommu {
  if (type !== IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD || hasData || !nestedSupported) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `vIOMMU type ${type}`);
  if (!(parent instanceof PagingDomain) || parent.stage !== 'second' || !parent.nestedParent) throw new ErrnoError('EINVAL', 'ioctl', 'the parent is not a second-stage nest parent');
  return new LabVtdViommu(dev.unit, parent, core, faults);
}
