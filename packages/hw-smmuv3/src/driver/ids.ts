// ASID (arm_smmu_asid_xa) and VMID (vmid_map) allocation: the lowest free ID in [min, max].
import { ErrnoError } from '@iommu-lab/platform';

export class IdAllocator {
  private readonly used = new Set<number>();
  private hint: number;

  constructor(
    readonly name: string,
    readonly min: number,
    readonly max: number,
  ) {
    this.hint = min;
  }

  /** The lowest free ID; ENOSPC when every one is taken (xa_alloc and ida_alloc_range answer so). */
  alloc(): number {
    for (let n = 0, id = this.hint; n <= this.max - this.min; n++, id = id === this.max ? this.min : id + 1) {
      if (!this.used.has(id)) {
        this.used.add(id);
        this.hint = id === this.max ? this.min : id + 1;
        return id;
      }
    }
    throw new ErrnoError('ENOSPC', 'arm-smmu-v3', `no free ${this.name}`);
  }

  free(id: number): void {
    this.used.delete(id);
    if (id < this.hint) this.hint = id;
  }

  get inUse(): number {
    return this.used.size;
  }
}
