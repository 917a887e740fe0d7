// The guest VT-d driver's SVA domain at a PASID (Linux intel/svm.c intel_svm_set_dev_pasid, pasid.c
// intel_pasid_setup_first_level / intel_pasid_tear_down_entry, prq.c intel_iommu_drain_pasid_prq): a first-stage
// PASID entry whose FSPTPTR is the process's CR3, DID 1, and the flushes caching mode asks for.
import { PASID_ENTRY_PGTT_FL_ONLY } from '@iommu-lab/hw-vtd/format';
import type { DeviceDomainInfo, IntelIommuGuest } from './iommu.js';
import { encodePasidEntry, FLPT_DEFAULT_DID } from './pasid.js';
import { QiBatch } from './qi.js';

/** The ATS invalidate queue depth the guest reads from the device (pci_ats_queue_depth; 0 means 32). */
const ATS_QDEP = 0;

export class GuestSvmError extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(`${errno}: ${message}`);
    this.name = 'GuestSvmError';
  }
}

/** intel_svm_check + intel_iommu_sva_supported: SVM-capable unit (PASID, SMPWC), PASID and ATS on, PRI if present. */
export function intelIommuSvaSupported(iommu: IntelIommuGuest, info: DeviceDomainInfo): void {
  if (!iommu.ecap.pasid || !iommu.ecap.smpwcs) throw new GuestSvmError('ENODEV', 'the unit is not SVM capable (ECAP.PASID and ECAP.SMPWC)');
  if (!info.pasid || !info.ats) throw new GuestSvmError('EINVAL', `device ${info.sid.toString(16)}: PASID and ATS must be enabled`);
}

export class GuestSvm {
  private readonly entry = new Uint32Array(16);
  private readonly batch = new QiBatch();

  constructor(private readonly iommu: IntelIommuGuest) {}

  /** intel_svm_set_dev_pasid: FS-only entry (DID 1, FSPTPTR = CR3, PWSNP), then pasid_flush_caches. */
  setDevPasid(info: DeviceDomainInfo, pasid: number, cr3: number): void {
    const iommu = this.iommu;
    intelIommuSvaSupported(iommu, info);
    if (info.pasidTable.present(pasid)) throw new GuestSvmError('EBUSY', `PASID ${pasid} entry of ${info.sid.toString(16)} is present`);
    encodePasidEntry({ pgtt: PASID_ENTRY_PGTT_FL_ONLY, did: FLPT_DEFAULT_DID, aw: iommu.ssLevels - 2, ptr: cr3, fl5: false, pwsnp: true }, this.entry);
    info.pasidTable.write(pasid, this.entry);
    if (!iommu.cap.cm) return;
    // pasid_cache_invalidation_with_pasid, then qi_flush_piotlb_all: two submissions.
    this.batch.pasidCache(FLPT_DEFAULT_DID, 1, pasid);
    iommu.qi.submitSync(this.batch);
    this.batch.piotlb(FLPT_DEFAULT_DID, pasid, 0, 0, false, true);
    iommu.qi.submitSync(this.batch);
  }

  /**
   * intel_pasid_tear_down_entry(fault_ignore = false): P cleared, PASID-cache (PASID-selective), the PASID's IOTLB,
   * its device-TLB, the entry cleared; then intel_iommu_drain_pasid_prq (a fenced wait, the IOTLB and device-TLB
   * again, closed by a wait with PD) when the device takes page requests.
   */
  removeDevPasid(info: DeviceDomainInfo, pasid: number): void {
    const iommu = this.iommu;
    const b = this.batch;
    info.pasidTable.read(pasid, this.entry);
    if ((this.entry[0]! & 1) === 0) return;
    const did = this.entry[2]! & 0xffff;
    this.entry[0] = (this.entry[0]! & ~1) >>> 0;
    info.pasidTable.write(pasid, this.entry);
    b.pasidCache(did, 1, pasid);
    iommu.qi.submitSync(b);
    b.piotlb(did, pasid, 0, 0, false, true);
    iommu.qi.submitSync(b);
    if (info.ats) {
      b.devTlbPasidAll(info.sid, pasid, ATS_QDEP);
      iommu.qi.submitSync(b);
    }
    info.pasidTable.write(pasid, this.entry.fill(0));
    if (!info.pri) return;
    b.waitFence();
    b.piotlb(did, pasid, 0, 0, false, true);
    b.devTlbPasidAll(info.sid, pasid, ATS_QDEP);
    iommu.qi.submitSync(b, true);
  }

  /** intel_arch_invalidate_secondary_tlbs: the mm changed [startPfn, startPfn + pages): the PASID's IOTLB and device-TLB. */
  invalidateRange(info: DeviceDomainInfo, pasid: number, psi: { pfn: number; mask: number }): void {
    const b = this.batch;
    if (psi.mask >= 52) b.piotlb(FLPT_DEFAULT_DID, pasid, 0, 0, false, true);
    else b.piotlb(FLPT_DEFAULT_DID, pasid, psi.pfn, psi.mask, false, false);
    if (info.ats) b.devTlbPasidAll(info.sid, pasid, ATS_QDEP);
    this.iommu.qi.submitSync(b);
  }
}
