// util/iova-tree.c: the shadow mappings a vIOMMU has pushed to the host, so identical maps are skipped
// and changed ones become unmap + map. Ranges are inclusive [iova, iova + size] in page numbers.

export interface DmaMap {
  /** First page. */
  iova: number;
  /** Pages - 1 (QEMU's inclusive size, in pages). */
  size: number;
  /** First guest-physical page. */
  translated: number;
  /** IOMMU_RO 1 | IOMMU_WO 2. */
  perm: number;
}

export class IovaTree {
  /** Non-overlapping maps sorted by iova. */
  private readonly maps: DmaMap[] = [];

  get length(): number {
    return this.maps.length;
  }

  /** Index of the first map whose last page is >= pfn. */
  private lowerBound(pfn: number): number {
    let lo = 0;
    let hi = this.maps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.maps[mid]!;
      if (m.iova + m.size < pfn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** iova_tree_find: a map overlapping [iova, iova + size], or undefined. */
  find(iova: number, size: number): DmaMap | undefined {
    const m = this.maps[this.lowerBound(iova)];
    return m && m.iova <= iova + size ? m : undefined;
  }

  /** iova_tree_insert: the range must not overlap an existing map. */
  insert(map: DmaMap): void {
    const i = this.lowerBound(map.iova);
    const next = this.maps[i];
    if (next && next.iova <= map.iova + map.size) throw new RangeError(`iova tree: [0x${map.iova.toString(16)}, +${map.size + 1}) overlaps a map`);
    this.maps.splice(i, 0, { ...map });
  }

  /** iova_tree_remove: drops every map overlapping [iova, iova + size]. */
  remove(iova: number, size: number): void {
    const i = this.lowerBound(iova);
    let j = i;
    while (j < this.maps.length && this.maps[j]!.iova <= iova + size) j++;
    if (j > i) this.maps.splice(i, j - i);
  }

  clear(): void {
    this.maps.length = 0;
  }

  /** The maps in order (a copy). */
  entries(): DmaMap[] {
    return this.maps.map((m) => ({ ...m }));
  }
}
