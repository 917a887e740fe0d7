// The guest's cache-tag flushes (Linux intel/cache.c): what an unmap, a flush-all and (in caching mode) a map
// queue for a domain. First-stage domains use PASID-based IOTLB invalidation; second-stage ones the IOTLB.
import type { DmarDomain } from './domain.js';
import { type GuestQi, QiBatch } from './qi.js';

/** MAX_AGAW_PFN_WIDTH: a mask this wide means "everything". */
export const MAX_AGAW_PFN_WIDTH = 52;
/** IOMMU_NO_PASID: the PASID of requests without PASID (RID_PASID). */
const IOMMU_NO_PASID = 0;

export interface CacheCaps {
  /** CAP.CM. */
  cachingMode: boolean;
  /** CAP.PSI and CAP.MAMV. */
  psi: boolean;
  mamv: number;
  /** CAP.DRD/DWD: drain hints in IOTLB descriptors. */
  drain: boolean;
}

/** fls(a ^ b) for page numbers below 2^52: the highest differing bit + 1. */
function flsXor(a: number, b: number): number {
  const hi = (Math.floor(a / 2 ** 32) ^ Math.floor(b / 2 ** 32)) >>> 0;
  if (hi !== 0) return 64 - Math.clz32(hi);
  return 32 - Math.clz32((a ^ b) >>> 0);
}

/**
 * calculate_psi_aligned_address over pages [start, last]: the aligned first page and the address mask
 * (2^mask pages) that cover the range; MAX_AGAW_PFN_WIDTH when it spans everything.
 */
export function psiAlignedAddress(start: number, last: number): { pfn: number; mask: number } {
  if (last >= 2 ** 52 - 1) return { pfn: 0, mask: MAX_AGAW_PFN_WIDTH };
  if (start === last) return { pfn: start, mask: 0 };
  const mask = flsXor(start, last);
  if (mask + 12 >= 64) return { pfn: 0, mask: MAX_AGAW_PFN_WIDTH };
  return { pfn: start - (start % 2 ** mask), mask };
}

export class GuestCacheTags {
  private readonly batch = new QiBatch();

  constructor(
    private readonly qi: GuestQi,
    private readonly caps: CacheCaps,
  ) {}

  /** cache_tag_flush_iotlb for the domain's IOTLB tag. */
  private iotlb(d: DmarDomain, pfn: number, mask: number, ih: boolean): void {
    if (d.stage === 'first') {
      if (mask >= MAX_AGAW_PFN_WIDTH) this.batch.piotlb(d.did, IOMMU_NO_PASID, 0, 0, false, true);
      else this.batch.piotlb(d.did, IOMMU_NO_PASID, pfn, mask, ih, false);
      return;
    }
    // No PSI, or a range beyond MAMV: domain-selective.
    if (!this.caps.psi || mask > this.caps.mamv) this.batch.iotlb(d.did, 2, 0, 0, false, this.caps.drain);
    else this.batch.iotlb(d.did, 3, pfn, mask, ih, this.caps.drain);
  }

  /** cache_tag_flush_range: after an unmap of pages [start, last]; IH when no table page was freed. */
  flushRange(d: DmarDomain, start: number, last: number, ih: boolean): void {
    if (d.sids.size === 0) return;
    const { pfn, mask } = psiAlignedAddress(start, last);
    this.iotlb(d, pfn, mask, ih);
    this.qi.submitSync(this.batch);
  }

  /** cache_tag_flush_all: the flush queue's flush. */
  flushAll(d: DmarDomain): void {
    this.flushRange(d, 0, 2 ** 52 - 1, false);
  }

  /**
   * cache_tag_flush_range_np: after a map. Only caching mode on a second-stage domain needs an invalidation
   * ("any software updates to remapping structures other than first-stage mapping"); otherwise nothing.
   */
  flushRangeNp(d: DmarDomain, start: number, last: number): void {
    if (d.sids.size === 0 || !this.caps.cachingMode || d.stage === 'first') return;
    const { pfn, mask } = psiAlignedAddress(start, last);
    this.iotlb(d, pfn, mask, false);
    this.qi.submitSync(this.batch);
  }
}
