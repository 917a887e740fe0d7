// SVA on the guest's arm-smmu-v3 (Linux 7.3 arm-smmu-v3-sva.c, with the PRI series' page requests): AArch64 processes;
// per process an SVA domain with an ASID of the SMMU's; its CD (the process's TTB0) at the process's PASID in each
// master's CD table, which the vSMMU forwards as CFGI_CD; the mmu notifier's TLBI_NH_VA and ATC_INV; on unbind the CD
// cleared and the ASID flushed (TLBI_NH_ASID); page faults from the PRI queue brought into the process.
import { CMDQ_OP as OP } from '@iommu-lab/hw-smmuv3/format';
import { IOMMU_PAGE_RESP_INVALID, IOMMU_PAGE_RESP_SUCCESS } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import type { VmDevice } from '../../vm/vm.js';
import { GuestSvmError } from '../intel/svm.js';
import { IommuSva, type SvaDevice, type SvaIommuDriver } from '../iommu-sva.js';
import { ARM64_ASID_BITS, ARM64_MAIR_EL1, ARM64_PA_BITS, ARM64_PARANGE, ARM64_VA_BITS, GuestMmArm64 } from '../mm-arm64.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import { armSmmuClearPasid, armSmmuSetPasid } from './pasid.js';
import type { ArmSmmuPriq } from './priq.js';
import type { ArmSmmuGuest, ArmSmmuMaster } from './smmu.js';
import { makeSvaCd } from './ste.js';
import type { TlbTarget } from './tlb.js';

/** A master as SVA sees it. */
export interface ArmSvaDevice extends SvaDevice {
  readonly master: ArmSmmuMaster;
}

/** struct arm_smmu_domain of type IOMMU_DOMAIN_SVA: a process on this SMMU, the masters bound to it at its PASID. */
export interface ArmSvaDomain extends TlbTarget {
  readonly sids: Set<number>;
  readonly ssid: number;
}

/** arm_smmu_sva_supported: coherent walks, 4 KiB pages, an OAS and ASIDs as wide as the CPU's; null when fine. */
export function armSmmuSvaUnsupported(smmu: ArmSmmuGuest): string | null {
  if (!smmu.features.coherent) return 'the SMMU is not coherent (IDR0.COHACC)';
  if (!smmu.gran4k) return 'the SMMU has no 4 KiB granule';
  if (smmu.oas < ARM64_PA_BITS) return `the SMMU's OAS (${smmu.oas} bits) is below the CPU's ${ARM64_PA_BITS}-bit PAs (use oas=48)`;
  if (smmu.asidBits < ARM64_ASID_BITS) return `the SMMU's ${smmu.asidBits}-bit ASIDs are narrower than the CPU's`;
  return null;
}

/** The vendor half: domains by process, the CD, the PASID ops of pasid.ts, the notifier's invalidations. */
class ArmSvaDriver implements SvaIommuDriver<GuestMmArm64, ArmSvaDevice> {
  readonly domains = new Map<GuestMmArm64, ArmSvaDomain>();

  constructor(
    private readonly smmu: ArmSmmuGuest,
    private readonly devices: readonly VmDevice[],
    private readonly pages: GuestPageAllocator,
  ) {}

  newMm(pid: number): GuestMmArm64 {
    return new GuestMmArm64(pid, this.smmu.vm.ram, this.pages);
  }

  device(id: string): ArmSvaDevice {
    const dev = this.devices.find((d) => d.vfio.id === id);
    const master = dev && this.smmu.masters.get(dev.vfio.guestRid);
    if (!dev || !master) throw new RangeError(`no device ${id} behind the guest's IOMMU`);
    return { dev, sid: master.sid, pasidLimit: 2 ** master.ssidBits, master };
  }

  /** arm_smmu_sva_domain_alloc (an ASID) on first use, then arm_smmu_sva_set_dev_pasid. */
  setDevPasid(d: ArmSvaDevice, pasid: number, mm: GuestMmArm64): void {
    const why = armSmmuSvaUnsupported(this.smmu);
    if (why) throw new GuestSvmError('EOPNOTSUPP', `arm-smmu-v3 cannot share process tables: ${why}`);
    let dom = this.domains.get(mm);
    const fresh = !dom;
    dom ??= { asid: this.smmu.allocAsid(), sids: new Set(), ssid: pasid };
    const cd = makeSvaCd({ asid: dom.asid, ttb0: mm.ttbr0, ips: ARM64_PARANGE, vaBits: ARM64_VA_BITS, mair: ARM64_MAIR_EL1 });
    try {
      armSmmuSetPasid(this.smmu, d.master, pasid, cd);
    } catch (e) {
      if (fresh) this.smmu.freeAsid(dom.asid);
      if (e instanceof ErrnoError) throw new GuestSvmError(e.code, e.message);
      throw e;
    }
    dom.sids.add(d.sid);
    this.domains.set(mm, dom);
  }

  /** The blocked domain at the PASID; the last master gone frees the domain (arm_smmu_sva_domain_free). */
  removeDevPasid(d: ArmSvaDevice, pasid: number, mm: GuestMmArm64): void {
    armSmmuClearPasid(this.smmu, d.master, pasid);
    const dom = this.domains.get(mm);
    if (!dom) return;
    dom.sids.delete(d.sid);
    if (dom.sids.size > 0) return;
    // arm_smmu_domain_inv: the ASID empty in the SMMU's TLB before it can be reused.
    this.smmu.cmdWithSync((b) => b.tlbi(OP.TLBI_NH_ASID, dom.asid, 0));
    this.smmu.freeAsid(dom.asid);
    this.domains.delete(mm);
  }

  /** arm_smmu_mm_arch_invalidate_secondary_tlbs: one notifier per domain, so once for all of its masters. */
  invalidateRange(d: ArmSvaDevice, _pasid: number, mm: GuestMmArm64, first: number, last: number): void {
    const dom = this.domains.get(mm);
    if (!dom || dom.sids.values().next().value !== d.sid) return;
    this.smmu.tlb.invRange(dom, first, (last - first + 1) * 4096, 4096, false);
  }
}

export class ArmSmmuSva extends IommuSva<GuestMmArm64, ArmSvaDevice> {
  readonly priq: ArmSmmuPriq | null;

  constructor(devices: readonly VmDevice[], private readonly smmu: ArmSmmuGuest, pages: GuestPageAllocator) {
    super(smmu.vm, new ArmSvaDriver(smmu, devices, pages));
    this.priq = smmu.priq;
    // iommu_sva_iopf_handler of every SVA domain: the fault goes into the process bound at (StreamID, SubstreamID).
    if (this.priq) this.priq.handler = (r) => (this.handleIopf(r.sid, r.ssid, r.addr, r.write) === 'ok' ? IOMMU_PAGE_RESP_SUCCESS : IOMMU_PAGE_RESP_INVALID);
  }

  /** The SVA domains (ASID, masters, PASID) by process. */
  get domains(): ReadonlyMap<GuestMmArm64, ArmSvaDomain> {
    return (this.driver as ArmSvaDriver).domains;
  }

  override unmet(): string | null {
    if (!this.priq) return 'sva needs -device arm-smmuv3,...,accel=on,ats=on,pri=on,ssidsize=20,oas=48';
    const why = armSmmuSvaUnsupported(this.smmu);
    return why ? `sva: ${why}` : null;
  }
}
