// The guest's DMA API over its IOMMU (Linux drivers/iommu/dma-iommu.c): map a buffer -> allocate an IOVA, write
// the page table, flush what caching mode needs; unmap -> clear, then flush at once (strict) or through the
// flush queue (lazy: IOVAs are freed only after a flush-all of up to 255 queued unmaps, or on the timer).
import { IOMMU_READ, IOMMU_WRITE } from '@iommu-lab/iommu-core';
import { IOVA_RANGE_CACHE_MAX_SIZE, IovaDomain } from './iova.js';

export type DmaDirection = 'to-device' | 'from-device' | 'bidirectional';
export type FlushMode = 'strict' | 'lazy';

/** IOVA_DEFAULT_FQ_SIZE: entries of the flush queue ring (one slot stays empty). */
export const IOVA_FQ_SIZE = 256;
/** The MSI window every x86 IOVA domain reserves. */
const MSI_FIRST_PFN = 0xfee00;
const MSI_END_PFN = 0xfef00;
/** PCI devices get IOVAs below 4 GiB first (the 32-bit workaround of iommu_dma_alloc_iova). */
const PCI_32BIT_LIMIT_PFN = 2 ** 20;

/** What the DMA API needs of the vendor's paging domain (the iommu_map / iommu_unmap of its domain ops). */
export interface DmaDomain {
  /** Maps with the largest leaves alignment allows; true when a large leaf replaced a freed table (flush with IH = 0). */
  map(iovaPfn: number, gpaPfn: number, pages: number, prot: number): boolean;
  /** Clears the leaves; returns how many pages were mapped there. */
  unmap(iovaPfn: number, pages: number): number;
}

/** The vendor's IOTLB flushes of a domain: iotlb_sync after unmap, flush_iotlb_all, iotlb_sync_map after map. */
export interface DmaIotlbOps<D> {
  flushRange(d: D, start: number, last: number, ih: boolean): void;
  flushAll(d: D): void;
  flushRangeNp(d: D, start: number, last: number): void;
}

/** iommu_dma_alloc_iova: sizes the rcache serves are rounded up to a power of two; what is freed must match. */
function iovaLen(pages: number): number {
  return pages < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1) ? 2 ** Math.ceil(Math.log2(pages)) : pages;
}

/** dma_info_to_prot. */
function dirToProt(dir: DmaDirection): number {
  return dir === 'to-device' ? IOMMU_READ : dir === 'from-device' ? IOMMU_WRITE : IOMMU_READ | IOMMU_WRITE;
}

/** A device's DMA API: iommu_dma_map_page / iommu_dma_unmap_page and the flush queue. */
export class GuestDmaApi<D extends DmaDomain = DmaDomain> {
  readonly iovad: IovaDomain;
  /** IOVA page -> guest page of every live mapping (the guest's view, for its own checks). */
  private readonly pagesOf = new Map<number, number>();
  /** The flush queue ring: IOVA page, pages, flush counter at queue time. */
  private readonly fqPfn = new Float64Array(IOVA_FQ_SIZE);
  private readonly fqPages = new Float64Array(IOVA_FQ_SIZE);
  private readonly fqCounter = new Float64Array(IOVA_FQ_SIZE);
  private fqHead = 0;
  private fqTail = 0;
  private flushStartCnt = 0;
  private flushFinishCnt = 0;
  /** fq_timer_on: a flush is due when the timer fires. */
  private fqTimerOn = false;
  maps = 0;
  unmaps = 0;
  fqFlushes = 0;

  constructor(
    readonly domain: D | null,
    private readonly tags: DmaIotlbOps<D> | null,
    readonly flush: FlushMode,
    /** One past the domain aperture, in pages. */
    aperturePfn: number,
  ) {
    this.iovad = new IovaDomain(1, aperturePfn, [[MSI_FIRST_PFN, MSI_END_PFN]]);
  }

  /** iommu_dma_map_page: returns the IOVA of gpa (dma-direct without an IOMMU: the GPA itself). */
  map(gpa: number, size: number, dir: DmaDirection): number {
    if (!this.domain) return gpa;
    const off = gpa % 4096;
    const pages = Math.ceil((off + size) / 4096);
    const len = iovaLen(pages);
    let pfn = this.iovad.alloc(len, PCI_32BIT_LIMIT_PFN);
    if (pfn < 0) pfn = this.iovad.alloc(len, this.iovad.endPfn);
    if (pfn < 0) throw new RangeError(`out of IOVA space for ${size} bytes`);
    const gpaPfn = (gpa - off) / 4096;
    // A large leaf that replaced a freed table level: iommu_iotlb_sync with IH = 0 before anything else.
    if (this.domain.map(pfn, gpaPfn, pages, dirToProt(dir))) this.tags!.flushRange(this.domain, pfn, pfn + pages - 1, false);
    for (let i = 0; i < pages; i++) this.pagesOf.set(pfn + i, gpaPfn + i);
    this.tags!.flushRangeNp(this.domain, pfn, pfn + pages - 1);
    this.maps++;
    return pfn * 4096 + off;
  }

  /** iommu_dma_unmap_page: clear the table, then flush now (strict) or queue the IOVA (lazy). */
  unmap(iova: number, size: number): void {
    if (!this.domain) return;
    const off = iova % 4096;
    const pfn = (iova - off) / 4096;
    const pages = Math.ceil((off + size) / 4096);
    const len = iovaLen(pages);
    if (this.domain.unmap(pfn, pages) !== pages) throw new RangeError(`unmap of 0x${iova.toString(16)} +${size}: not mapped`);
    for (let i = 0; i < pages; i++) this.pagesOf.delete(pfn + i);
    this.unmaps++;
    if (this.flush === 'lazy') return this.queueIova(pfn, len);
    // IH = 1: no page-table page was freed, only leaves changed.
    this.tags!.flushRange(this.domain, pfn, pfn + pages - 1, true);
    this.iovad.free(pfn, len);
  }

  /** The guest page behind an IOVA page of a live mapping, or -1. */
  gpaPfnOf(iovaPfn: number): number {
    if (!this.domain) return iovaPfn;
    return this.pagesOf.get(iovaPfn) ?? -1;
  }

  /** queue_iova. */
  private queueIova(pfn: number, pages: number): void {
    this.fqRingFree();
    if (((this.fqTail + 1) & (IOVA_FQ_SIZE - 1)) === this.fqHead) {
      this.fqFlushIotlb();
      this.fqRingFree();
    }
    const idx = this.fqTail;
    this.fqTail = (idx + 1) & (IOVA_FQ_SIZE - 1);
    this.fqPfn[idx] = pfn;
    this.fqPages[idx] = pages;
    this.fqCounter[idx] = this.flushStartCnt;
    this.fqTimerOn = true;
  }

  /** fq_ring_free: entries whose flush has completed give their IOVAs back. */
  private fqRingFree(): void {
    while (this.fqHead !== this.fqTail && this.fqCounter[this.fqHead]! < this.flushFinishCnt) {
      this.iovad.free(this.fqPfn[this.fqHead]!, this.fqPages[this.fqHead]!);
      this.fqHead = (this.fqHead + 1) & (IOVA_FQ_SIZE - 1);
    }
  }

  /** fq_flush_iotlb: one flush of everything the domain caches. */
  private fqFlushIotlb(): void {
    this.flushStartCnt++;
    this.tags!.flushAll(this.domain!);
    this.flushFinishCnt++;
    this.fqFlushes++;
  }

  /** fq_flush_timeout: the 10 ms timer; flushes only when unmaps are queued. */
  flushQueue(): void {
    if (!this.fqTimerOn) return;
    this.fqTimerOn = false;
    this.fqFlushIotlb();
    this.fqRingFree();
  }

  /** Unmaps queued for a flush. */
  get queued(): number {
    return (this.fqTail - this.fqHead) & (IOVA_FQ_SIZE - 1);
  }
}
