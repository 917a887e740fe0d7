// struct iopt_area: a slice of an iopt_pages mapped at an IOVA range of one io_pagetable.
import { PAGE_SIZE } from '@iommu-lab/platform';
import type { IoPagetable } from './iopt.js';
import type { IoptPages } from './pages.js';

const PAGE = BigInt(PAGE_SIZE);

export class IoptArea {
  /** Inclusive IOVA range. */
  iova: bigint;
  last: bigint;
  /** null while the area is being created or torn down. */
  pages: IoptPages | null = null;
  /** start_byte % PAGE_SIZE of the first byte. */
  pageOffset: number;
  /** Page indexes of the pages the area covers. */
  startIndex: number;
  lastIndex: number;
  readonly prot: number;
  /** The area's pages are held (pinned) for the domains of its io_pagetable (storage_domain != NULL). */
  inDomains = false;
  /** In-kernel accesses pinning pages of this area, and how many of them lock it against unmap. */
  numAccesses = 0;
  numLocks = 0;
  /** Set while accesses are being asked to unpin for an unmap. */
  preventAccess = false;
  /** The io_pagetable the area is inserted in. */
  iopt: IoPagetable | null = null;

  constructor(iova: bigint, startByte: number, length: bigint, prot: number) {
    this.iova = iova;
    this.last = iova + length - 1n;
    this.pageOffset = startByte % PAGE_SIZE;
    this.startIndex = Math.floor(startByte / PAGE_SIZE);
    this.lastIndex = Math.floor((startByte + Number(length) - 1) / PAGE_SIZE);
    this.prot = prot;
  }

  get length(): bigint {
    return this.last - this.iova + 1n;
  }

  /** iopt_area_start_byte: the byte of the pages that iova maps. */
  startByte(iova: bigint): number {
    return Number(iova - this.iova) + this.pageOffset + this.startIndex * PAGE_SIZE;
  }

  /** iopt_area_iova_to_index */
  indexOf(iova: bigint): number {
    return Math.floor(this.startByte(iova) / PAGE_SIZE);
  }

  /** The first IOVA of page `index` (the area's own start for its first page). */
  iovaOfIndex(index: number): bigint {
    if (index === this.startIndex) return this.iova;
    return this.iova - BigInt(this.pageOffset) + BigInt(index - this.startIndex) * PAGE;
  }
}
