// struct iommu_iotlb_gather: the IOVA range unmapped so far, flushed once by iotlb_sync.

export class IotlbGather {
  start = Infinity;
  end = 0;
  pgsize = 0;

  /** Records [iova, iova + size) as needing a flush. */
  add(iova: number, size: number, pgsize = size): void {
    this.start = Math.min(this.start, iova);
    this.end = Math.max(this.end, iova + size);
    this.pgsize = Math.max(this.pgsize, pgsize);
  }

  get empty(): boolean {
    return this.end === 0;
  }

  reset(): void {
    this.start = Infinity;
    this.end = 0;
    this.pgsize = 0;
  }
}
