// IOTLB and paging-structure caches (VT-d spec 6.2.3, 6.2.4), kept in iommu-core TlbCache instances.
import { TlbCache } from '@iommu-lab/iommu-core';

/** IOTLB entry permission bits (TlbCache perm, one byte). */
export const TLB_R = 1;
export const TLB_W = 2;
export const TLB_X = 4;
export const TLB_U = 8;
/** The walk that filled the entry set the D bits a write needs. */
export const TLB_DIRTY = 16;

/** FS paging-structure cache permission bits: accumulated R/W, U/S, XD, and SS write permission of the next table page. */
export const PSC_W = 1;
export const PSC_U = 2;
export const PSC_XD = 4;
export const PSC_TABLE_W = 8;
/** SS paging-structure cache permission bits. */
export const PSC_SS_R = 1;
export const PSC_SS_W = 2;

const TWO20 = 1048576;

/**
 * IOTLB tag: DID and PASID, and whether the entry caches a second-stage-only mapping, which
 * PASID-based invalidations leave alone (6.5.2.4).
 */
export function iotlbTag(did: number, pasid: number, ssOnly: boolean): number {
  return (did * TWO20 + pasid) * 2 + (ssOnly ? 1 : 0);
}

export function fsPscTag(did: number, pasid: number, level: number): number {
  return (did * TWO20 + pasid) * 8 + level;
}

export function ssPscTag(did: number, level: number): number {
  return did * 8 + level;
}

/** Pages a PSC entry at `level` (the level of the table holding the entry) covers. */
export function pscSpan(level: number): number {
  return 2 ** (9 * (level - 1));
}

function overlaps(base: number, pages: number, first: number, n: number): boolean {
  return base < first + n && base + pages > first;
}

export class VtdTlbs {
  readonly iotlb = new TlbCache('vtd-iotlb', 1024, 4);
  readonly fsPsc = new TlbCache('vtd-fs-psc', 256, 4);
  readonly ssPsc = new TlbCache('vtd-ss-psc', 256, 4);

  invalidateAll(): void {
    this.iotlb.invalidateAll();
    this.fsPsc.invalidateAll();
    this.ssPsc.invalidateAll();
  }

  /** IOTLB domain-selective: everything tagged with `did`, in every cache. */
  invalidateDomain(did: number): void {
    this.iotlb.invalidateWhere((t) => Math.floor(t / (2 * TWO20)) === did);
    this.fsPsc.invalidateWhere((t) => Math.floor(t / (8 * TWO20)) === did);
    this.ssPsc.invalidateWhere((t) => Math.floor(t / 8) === did);
  }

  /**
   * IOTLB page-selective within a domain: second-stage-only entries of [first, first + n); first-stage
   * and nested entries of the DID whatever their address (the address is a GPA for them); SS
   * paging-structure entries over the range unless IH; nested FS paging-structure entries of the DID.
   */
  invalidateDomainPages(did: number, first: number, n: number, ih: boolean): void {
    this.iotlb.invalidateWhere((t, base, pages) => {
      if (Math.floor(t / (2 * TWO20)) !== did) return false;
      return t % 2 === 0 || overlaps(base, pages, first, n);
    });
    this.fsPsc.invalidateWhere((t) => Math.floor(t / (8 * TWO20)) === did);
    if (!ih) {
      this.ssPsc.invalidateWhere((t, prefix) => {
        if (Math.floor(t / 8) !== did) return false;
        const span = pscSpan(t % 8);
        return overlaps(prefix * span, span, first, n);
      });
    }
  }

  /** PASID-based IOTLB: all first-stage/nested entries of (DID, PASID), or those over [first, first + n). */
  invalidatePasid(did: number, pasid: number, first: number, n: number, all: boolean, ih: boolean): void {
    const tag = iotlbTag(did, pasid, false);
    if (all) this.iotlb.invalidateTag(tag);
    else this.iotlb.invalidateRange(tag, first, n);
    if (!all && ih) return;
    const key = did * TWO20 + pasid;
    this.fsPsc.invalidateWhere((t, prefix) => {
      if (Math.floor(t / 8) !== key) return false;
      if (all) return true;
      const span = pscSpan(t % 8);
      return overlaps(prefix * span, span, first, n);
    });
  }
}
