// The SMMU TLB: iommu-core's TlbCache tagged by (VMID, ASID), with the invalidation scopes of IHI0070 4.4.
import { TlbCache } from '@iommu-lab/iommu-core';
import { TAG_S2_ONLY, tlbTag } from './stream-config.js';

const VMID_SPAN = 0x20000;

/**
 * Stage-1 and nested entries are tagged (VMID, ASID); stage-2-only entries (VMID, TAG_S2_ONLY).
 * Nested entries hold the combined IOVA -> PA translation, so TLBI_S2_IPA leaves them alone, as
 * the architecture allows: software follows a stage-2 change with TLBI_NH_ALL or S12_VMALL.
 */
export class SmmuTlb {
  readonly cache: TlbCache;

  constructor(sets: number, ways: number) {
    this.cache = new TlbCache('smmuv3-tlb', sets, ways);
  }

  /** TLBI_NH_ALL: every stage-1 (and nested) entry of a VMID. */
  nhAll(vmid: number): number {
    const lo = vmid * VMID_SPAN;
    return this.cache.invalidateWhere((t) => t >= lo && t < lo + TAG_S2_ONLY);
  }

  /** TLBI_NH_ASID */
  nhAsid(vmid: number, asid: number): number {
    return this.cache.invalidateTag(tlbTag(vmid, asid));
  }

  /** TLBI_NH_VA: entries of (VMID, ASID) overlapping [pfn, pfn + pages). */
  nhVa(vmid: number, asid: number, pfn: number, pages: number): number {
    return this.cache.invalidateRange(tlbTag(vmid, asid), pfn, pages);
  }

  /** TLBI_NH_VAA: entries of every ASID of a VMID overlapping the range. */
  nhVaa(vmid: number, pfn: number, pages: number): number {
    const lo = vmid * VMID_SPAN;
    const end = pfn + pages;
    return this.cache.invalidateWhere((t, base, n) => t >= lo && t < lo + TAG_S2_ONLY && base < end && base + n > pfn);
  }

  /** TLBI_S12_VMALL: everything of a VMID, both stages. */
  s12Vmall(vmid: number): number {
    const lo = vmid * VMID_SPAN;
    return this.cache.invalidateWhere((t) => t >= lo && t < lo + VMID_SPAN);
  }

  /** TLBI_S2_IPA: stage-2-only entries of a VMID overlapping [ipaPfn, ipaPfn + pages). */
  s2Ipa(vmid: number, ipaPfn: number, pages: number): number {
    return this.cache.invalidateRange(tlbTag(vmid, TAG_S2_ONLY), ipaPfn, pages);
  }

  /** TLBI_NSNH_ALL */
  all(): number {
    return this.cache.invalidateAll();
  }
}
