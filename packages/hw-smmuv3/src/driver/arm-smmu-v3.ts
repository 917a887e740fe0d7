// The arm-smmu-v3 driver (struct iommu_ops arm_smmu_ops): probe, capabilities, hw_info, domain and vIOMMU allocation.
import {
  type IommuCap,
  type IommuDevice,
  type IommuDomain,
  type IommuHwInfo,
  type IommuOps,
  type IommuPageResponse,
  type IommuUserData,
  type IommuViommu,
  type IopfFault,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_PAGE_RESP_FAILURE,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  iommu_hw_info_arm_smmuv3,
  iommu_hwpt_arm_smmuv3,
  iommuCopyStructFromUser,
  isViommu,
  type ViommuCore,
} from '@iommu-lab/iommu-core';
import type { FrameAllocator, PhysMem } from '@iommu-lab/platform';
import { ErrnoError } from '@iommu-lab/platform';
import { RESUME_ABORT, RESUME_RETRY, RESUME_TERMINATE } from '../format/cmd.js';
import { SMMU_REG } from '../format/registers.js';
import type { SmmuMmio } from '../hw/smmu.js';
import { PRI_RESP_DENY, PRI_RESP_FAIL, PRI_RESP_SUCC } from '../format/priq.js';
import { cmdPriResp, cmdResume } from './cmds.js';
import { ArmSmmuDevice, type SmmuDeviceOptions } from './device.js';
import { SmmuDomain } from './domain.js';
import { evtqThread } from './events.js';
import { NestedDomain, validateVste } from './nested.js';
import { masterOf, probeMaster, releaseMaster } from './probe.js';
import { StaticDomain } from './static-domains.js';
import { ArmVsmmu } from './viommu.js';

const PAGING_FLAGS = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID | IOMMU_HWPT_ALLOC_NEST_PARENT;

export class ArmSmmuV3 implements IommuOps {
  readonly name = 'arm-smmu-v3';
  readonly smmu: ArmSmmuDevice;
  readonly blockedDomain: StaticDomain;
  readonly identityDomain: StaticDomain;
  /** The guest owns the CD (PASID) table when nesting. */
  readonly userPasidTable = true;

  constructor(mmio: SmmuMmio, mem: PhysMem, frames: FrameAllocator, opts: SmmuDeviceOptions = {}) {
    this.smmu = new ArmSmmuDevice(mmio, mem, frames, opts);
    this.blockedDomain = new StaticDomain(this, 'blocked');
    this.identityDomain = new StaticDomain(this, 'identity');
    mmio.setIrqHandler('evtq', () => evtqThread(this.smmu));
  }

  probeDevice(dev: IommuDevice): void {
    probeMaster(this.smmu, dev);
  }

  releaseDevice(dev: IommuDevice): void {
    releaseMaster(dev);
  }

  /** arm_smmu_capable */
  capable(dev: IommuDevice, cap: IommuCap): boolean {
    const master = masterOf(dev);
    const f = this.smmu.features;
    switch (cap) {
      case 'CACHE_COHERENCY':
        return f.coherency;
      case 'ENFORCE_CACHE_COHERENCY':
        return this.smmu.canwbs;
      case 'NOEXEC':
      case 'DEFERRED_FLUSH':
        return true;
      case 'DIRTY_TRACKING':
        return this.dbmCapable();
      case 'PCI_ATS_SUPPORTED':
        return master.atsSupported;
      default:
        return false;
    }
  }

  /** arm_smmu_hw_info: the raw IDR0-5, IIDR and AIDR as struct iommu_hw_info_arm_smmuv3. */
  hwInfo(dev: IommuDevice, type: number): IommuHwInfo {
    masterOf(dev);
    if (type !== IOMMU_HW_INFO_TYPE_DEFAULT && type !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `hw_info type ${type}`);
    const m = this.smmu.mmio;
    const data = iommu_hw_info_arm_smmuv3.encode({
      flags: 0,
      idr: [0, 1, 2, 3, 4, 5].map((i) => m.read32(SMMU_REG.IDR0 + 4 * i)),
      iidr: m.read32(SMMU_REG.IIDR),
      aidr: m.read32(SMMU_REG.AIDR),
    });
    return { type: IOMMU_HW_INFO_TYPE_ARM_SMMUV3, data };
  }

  /**
   * arm_smmu_domain_alloc_paging_flags (no parent) or arm_vsmmu_alloc_domain_nested (a vIOMMU parent).
   * A paging parent is EOPNOTSUPP: SMMUv3 nests only through a vIOMMU.
   */
  domainAllocUser(dev: IommuDevice, flags: number, parent: IommuDomain | IommuViommu | null, userData: IommuUserData | null): IommuDomain {
    masterOf(dev);
    // IOMMU_HWPT_FAULT_ID_VALID belongs to iommufd, which strips it before calling the driver
    flags &= ~IOMMU_HWPT_FAULT_ID_VALID;
    if (parent === null) return this.allocPaging(flags, userData);
    if (!isViommu(parent)) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'arm-smmu-v3 nests only on a vIOMMU');
    if (!(parent instanceof ArmVsmmu) || parent.smmu !== this.smmu) throw new ErrnoError('EINVAL', 'ioctl', 'vIOMMU of another IOMMU');
    if (flags) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `nested flags 0x${flags.toString(16)}`);
    if (!userData) throw new ErrnoError('EINVAL', 'ioctl', 'a nested domain needs a vSTE');
    const arg = iommuCopyStructFromUser(iommu_hwpt_arm_smmuv3, userData, IOMMU_HWPT_DATA_ARM_SMMUV3, 16);
    const v = validateVste([arg.ste[0]!, arg.ste[1]!]);
    return new NestedDomain(this, parent, [v.ste0, v.ste1], v.enableAts);
  }

  /** arm_smmu_get_viommu_size + arm_vsmmu_init: a vIOMMU over a nest-parent stage-2 domain, sharing its VMID. */
  viommuAlloc(dev: IommuDevice, parent: IommuDomain, type: number, _userData: IommuUserData | null, core: ViommuCore): IommuViommu {
    const f = this.smmu.features;
    if (type !== IOMMU_VIOMMU_TYPE_ARM_SMMUV3) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `vIOMMU type ${type}`);
    if (!f.nesting || f.cmdqForceSync) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'this SMMU cannot nest');
    if (!this.smmu.canwbs && !f.s2fwb) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'neither CANWBS nor S2FWB: the VM could bypass the cache');
    if (!(parent instanceof SmmuDomain) || !parent.nestParent) throw new ErrnoError('EINVAL', 'ioctl', 'the parent is not a nest-parent domain');
    if (parent.smmu !== this.smmu) throw new ErrnoError('EINVAL', 'ioctl', 'nest parent of another SMMU');
    return new ArmVsmmu(dev.unit, parent, core, this.smmu, parent.vmid);
  }

  /**
   * arm_smmu_page_response: a stalled transaction is resumed (retry) or aborted; a PRI group gets CMD_PRI_RESP
   * (the PRI patch's codes; no CMD_SYNC: a response is fire and forget).
   */
  pageResponse(dev: IommuDevice, fault: IopfFault, response: IommuPageResponse): void {
    const master = masterOf(dev);
    if (!master.stallEnabled) {
      if (!master.priSupported) return;
      const resp = response.code === IOMMU_PAGE_RESP_SUCCESS ? PRI_RESP_SUCC : response.code === IOMMU_PAGE_RESP_INVALID ? PRI_RESP_FAIL : PRI_RESP_DENY;
      const ssv = (fault.flags & IOMMU_FAULT_PAGE_REQUEST_PASID_VALID) !== 0 && master.prgRespNeedsSsid;
      this.smmu.issue([cmdPriResp(master.sid, fault.pasid, ssv, fault.grpid, resp)], false);
      return;
    }
    const action = response.code === IOMMU_PAGE_RESP_SUCCESS ? RESUME_RETRY : response.code === IOMMU_PAGE_RESP_INVALID || response.code === IOMMU_PAGE_RESP_FAILURE ? RESUME_ABORT : RESUME_TERMINATE;
    const stag = (fault.privateData as { stag?: number } | undefined)?.stag ?? response.grpid;
    this.smmu.issue([cmdResume(master.sid, stag, action)], false);
  }

  /** arm_smmu_dbm_capable: hardware dirty state and coherent table walks. */
  dbmCapable(): boolean {
    return this.smmu.features.hd && this.smmu.features.coherency;
  }

  private allocPaging(flags: number, userData: IommuUserData | null): SmmuDomain {
    const f = this.smmu.features;
    if (flags & ~PAGING_FLAGS || userData) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `paging flags 0x${flags.toString(16)}${userData ? ' with user data' : ''}`);
    const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
    if (dirty && !this.dbmCapable()) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'dirty tracking needs IDR0.HTTU access+dirty and coherent walks');
    switch (flags) {
      case 0:
        return new SmmuDomain(this, this.smmu, f.transS1 ? 'S1' : 'S2', false, false);
      case IOMMU_HWPT_ALLOC_NEST_PARENT:
        if (!f.nesting) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'no nesting (stage 1 and stage 2 both needed)');
        return new SmmuDomain(this, this.smmu, 'S2', true, false);
      case IOMMU_HWPT_ALLOC_DIRTY_TRACKING:
      case IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID:
      case IOMMU_HWPT_ALLOC_PASID:
        if (!f.transS1) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'stage 1 needed');
        return new SmmuDomain(this, this.smmu, 'S1', false, dirty);
      default:
        throw new ErrnoError('EOPNOTSUPP', 'ioctl', `paging flags 0x${flags.toString(16)}`);
    }
  }
}
