// The VT-d half of guest SVA (intel/svm.c, the 2020 IOASID allocator, intel/prq.c): x86-64 processes, PASIDs through
// the virtual command interface once the driver registered its custom allocator (an enlightened guest), the
// first-stage PASID entry rooted at CR3, the page request queue, and the mmu notifier's PASID-selective flushes.
import { QI_RESP_INVALID, QI_RESP_SUCCESS } from '@iommu-lab/hw-vtd/format';
import type { VmDevice } from '../../vm/vm.js';
import { IommuSva, type SvaDevice } from '../iommu-sva.js';
import { GuestMm } from '../mm.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import { psiAlignedAddress } from './cache.js';
import type { DeviceDomainInfo, IntelIommuGuest } from './iommu.js';
import { GuestPrq, type GuestPrqRequest } from './prq.js';
import { GuestSvm } from './svm.js';
import { intelVcmdAllocator, vccapPasid, type VcmdLog } from './vcmd.js';

/** A device behind the guest's VT-d: its device_domain_info (RID, PASID table). */
export interface IntelSvaDevice extends SvaDevice {
  readonly info: DeviceDomainInfo;
}

export class GuestSva extends IommuSva<GuestMm, IntelSvaDevice> {
  readonly vcmd: VcmdLog = { allocs: 0, frees: 0, errors: [] };
  /** Whether the VT-d driver registered the virtual-command allocator (register_pasid_allocator). */
  readonly enlightened: boolean;
  readonly svm: GuestSvm;
  readonly prq: GuestPrq | null;

  constructor(devices: readonly VmDevice[], iommu: IntelIommuGuest, pages: GuestPageAllocator) {
    const svm = new GuestSvm(iommu);
    super(iommu.vm, {
      newMm: (pid) => new GuestMm(pid, iommu.vm.ram, pages),
      device: (id) => {
        const dev = devices.find((d) => d.vfio.id === id);
        const info = dev && iommu.devices.get(dev.vfio.guestRid);
        if (!dev || !info) throw new RangeError(`no device ${id} behind the guest's IOMMU`);
        return { dev, sid: info.sid, pasidLimit: info.pasidTable.maxPasid, info };
      },
      setDevPasid: (d, pasid, mm) => svm.setDevPasid(d.info, pasid, mm.cr3),
      removeDevPasid: (d, pasid) => svm.removeDevPasid(d.info, pasid),
      invalidateRange: (d, pasid, _mm, first, last) => svm.invalidateRange(d.info, pasid, psiAlignedAddress(first, last)),
    });
    this.svm = svm;
    // register_pasid_allocator: only in a guest (caching mode), in scalable mode, when the vIOMMU allocates PASIDs.
    this.enlightened = iommu.cap.cm && iommu.ecap.smts && iommu.ecap.vcs && vccapPasid(iommu.regs);
    if (this.enlightened) this.ioasid.registerAllocator(intelVcmdAllocator(iommu.regs, this.vcmd, 'dmar0'));
    this.prq = iommu.ecap.prs ? new GuestPrq(iommu.vm, iommu.regs, iommu.qi, pages, (r) => this.iopf(r)) : null;
    this.prq?.enable();
  }

  override unmet(): string | null {
    return this.prq && this.enlightened ? null : 'sva needs -device intel-iommu,...,x-flts=on,x-pasid-mode=on,device-iotlb=on,svm=on';
  }

  /** The page request handler's answer for a group: Success, or Invalid Request when the page may not come in. */
  private iopf(r: GuestPrqRequest): number {
    return this.handleIopf(r.sid, r.pasid, r.addr, r.write) === 'ok' ? QI_RESP_SUCCESS : QI_RESP_INVALID;
  }
}
