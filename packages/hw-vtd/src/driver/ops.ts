// struct iommu_ops of intel-iommu (kernel intel/iommu.c, nested.c): probe, capabilities, hw_info, domain allocation.
import {
  type IommuCap,
  type IommuDevice,
  type IommuDomain,
  type IommuHwInfo,
  type IommuOps,
  type IommuPageResponse,
  type IopfFault,
  type IommuUserData,
  type IommuViommu,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_VTD_S1,
  iommu_hw_info_vtd,
  iommu_hwpt_vtd_s1,
  iommuCopyStructFromUser,
  isViommu,
  type ViommuCore,
} from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import { DeviceDomainInfo, infoOf } from './device-info.js';
import { NestedDomain } from './domain-nested.js';
import { PagingDomain } from './domain-paging.js';
import type { DmarFaultHandler } from './fault-handler.js';
import type { IntelIommu } from './intel-iommu.js';
import { intelPasidAllocTable, intelPasidFreeTable, intelPasidSetupSmContext, intelPasidTeardownSmContext } from './pasid.js';
import { intelIommuPageResponse } from './prq.js';
import { blockingDomain, identityDomain } from './static-domains.js';
import { LabVtdViommu, labVtdViommuAlloc } from './viommu-lab.js';
import { firstStageGeometry, secondStageGeometry } from './stage-geometry.js';

function notSupported(why: string): never {
  throw new ErrnoError('EOPNOTSUPP', 'ioctl', why);
}

export class IntelIommuOps implements IommuOps {
  readonly name = 'intel-iommu';
  readonly blockedDomain: IommuDomain;
  readonly identityDomain: IommuDomain;

  constructor(
    readonly iommu: IntelIommu,
    readonly faults: DmarFaultHandler,
  ) {
    this.blockedDomain = blockingDomain(this);
    this.identityDomain = identityDomain(this);
  }

  /** intel_iommu_probe_device + probe_finalize: ATS, PASID and PRI support, the PASID table and the context entry. */
  probeDevice(dev: IommuDevice): void {
    const iommu = this.iommu;
    const pci = dev.pci;
    if (!pci) throw new ErrnoError('ENODEV', 'iommu', `${dev.name} is not a PCI device`);
    const info = new DeviceDomainInfo(dev, iommu);
    info.atsSupported = iommu.e.dt && pci.ats;
    info.pasidSupported = iommu.pasidSupported && pci.pasidBits > 0;
    info.priSupported = info.atsSupported && iommu.e.prs && iommu.e.pds && pci.pri;
    const devicePasids = pci.pasidBits > 0 ? 2 ** pci.pasidBits : 0;
    intelPasidAllocTable(info, devicePasids);
    intelPasidSetupSmContext(info);
    info.atsEnabled = info.atsSupported;
    // iommu_enable_pci_pri (probe_finalize): PRI needs ATS enabled; a PASID device also asks for PASIDs in responses.
    info.priEnabled = info.priSupported && info.atsEnabled;
    if (info.priEnabled) pci.priEnabled = true;
    if (pci.ats) iommu.devicesByRid.set(info.sid, info);
    dev.priv = info;
    dev.maxPasids = info.pasidSupported ? Math.min(iommu.maxPasids, devicePasids) : 0;
  }

  releaseDevice(dev: IommuDevice): void {
    const info = infoOf(dev);
    intelPasidTeardownSmContext(info);
    intelPasidFreeTable(info);
    if (info.iommu.devicesByRid.get(info.sid) === info) info.iommu.devicesByRid.delete(info.sid);
    if (info.priEnabled && dev.pci) dev.pci.priEnabled = false;
    dev.priv = undefined;
  }

  /** intel_iommu_page_response. */
  pageResponse(dev: IommuDevice, fault: IopfFault, response: IommuPageResponse): void {
    intelIommuPageResponse(dev, fault, response);
  }

  /** intel_iommu_capable. */
  capable(dev: IommuDevice, cap: IommuCap): boolean {
    const info = infoOf(dev);
    switch (cap) {
      case 'CACHE_COHERENCY':
        return true;
      case 'ENFORCE_CACHE_COHERENCY':
        return info.iommu.e.sc;
      case 'DIRTY_TRACKING':
        return info.iommu.ssadsSupported;
      case 'PCI_ATS_SUPPORTED':
        return info.atsSupported;
      default:
        return false;
    }
  }

  /** intel_iommu_hw_info: struct iommu_hw_info_vtd, with the SPR17 erratum flag always reported. */
  hwInfo(dev: IommuDevice, type: number): IommuHwInfo {
    const { iommu } = infoOf(dev);
    if (type !== IOMMU_HW_INFO_TYPE_DEFAULT && type !== IOMMU_HW_INFO_TYPE_INTEL_VTD) notSupported(`hw_info type ${type}`);
    const data = iommu_hw_info_vtd.encode({ flags: IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, cap_reg: iommu.cap, ecap_reg: iommu.ecap });
    return { type: IOMMU_HW_INFO_TYPE_INTEL_VTD, data };
  }

  domainAllocUser(dev: IommuDevice, flags: number, parent: IommuDomain | IommuViommu | null, userData: IommuUserData | null): IommuDomain {
    const info = infoOf(dev);
    if (parent === null) {
      if (userData) notSupported('user data for a paging domain');
      return this.allocPaging(info, flags);
    }
    if (isViommu(parent)) {
      // iommu-lab extension (not in Linux): a nested domain over the VT-d vIOMMU reports its faults through it.
      if (!(parent instanceof LabVtdViommu)) notSupported('intel-iommu has no vIOMMU');
      const nested = this.allocNested(info, parent.parent, flags, userData);
      nested.viommu = parent;
      parent.nested.add(nested);
      return nested;
    }
    return this.allocNested(info, parent, flags, userData);
  }

  /** Only the iommu-lab extension type (IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD): Linux 7.3's intel-iommu has no vIOMMU. */
  viommuAlloc(dev: IommuDevice, parent: IommuDomain, type: number, userData: IommuUserData | null, core: ViommuCore): IommuViommu {
    return labVtdViommuAlloc(dev, parent, type, userData !== null && userData.len > 0, core, this.faults, infoOf(dev).iommu.nestedSupported);
  }

  /** intel_iommu_domain_alloc_paging_flags: the first stage when it can serve the flags, else the second stage. */
  private allocPaging(info: DeviceDomainInfo, flags: number): PagingDomain {
    const iommu = info.iommu;
    if ((flags & ~IOMMU_HWPT_ALLOC_PASID) === 0 && iommu.sm && iommu.e.fsts) {
      return new PagingDomain(this, 'first', firstStageGeometry(iommu), false, iommu.c.rwbf, iommu, false);
    }
    if (flags & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID)) notSupported(`paging flags 0x${flags.toString(16)}`);
    if (flags & IOMMU_HWPT_ALLOC_NEST_PARENT && !iommu.nestedSupported) notSupported('no nested translation');
    if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING && !iommu.ssadsSupported) notSupported('no second-stage A/D bits');
    if (iommu.sm && !iommu.e.ssts) notSupported('no second-stage translation');
    const geo = secondStageGeometry(iommu);
    if (!geo) notSupported('no second-stage table size fits SAGAW and MGAW');
    const nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;
    return new PagingDomain(this, 'second', geo, nestParent, iommu.c.rwbf || iommu.c.cm, iommu, (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0);
  }

  /** intel_iommu_domain_alloc_nested: VTD_S1 data on a second-stage nest parent; the content is checked at attach. */
  private allocNested(info: DeviceDomainInfo, parent: IommuDomain, flags: number, userData: IommuUserData | null): NestedDomain {
    if (!info.iommu.nestedSupported || flags & ~IOMMU_HWPT_ALLOC_PASID) notSupported(`nested flags 0x${flags.toString(16)}`);
    if (!userData || userData.type !== IOMMU_HWPT_DATA_VTD_S1) notSupported(`nested data type ${userData?.type}`);
    if (!(parent instanceof PagingDomain) || parent.stage !== 'second' || !parent.nestedParent) {
      throw new ErrnoError('EINVAL', 'ioctl', 'parent is not a second-stage nest parent');
    }
    const vtd = iommuCopyStructFromUser(iommu_hwpt_vtd_s1, userData, IOMMU_HWPT_DATA_VTD_S1, iommu_hwpt_vtd_s1.size);
    return new NestedDomain(this, parent, { flags: vtd.flags, pgtblAddr: vtd.pgtbl_addr, addrWidth: vtd.addr_width });
  }
}
