// The VMM's PASIDs for its guests (the 2020 vSVA series' per-VM IOASID set): one @iommu-lab/ioasid allocator shared by
// the VMMs of a host (system-wide PASIDs), a set per VM whose quota bounds what its guest can take through VCMD.
import { IoasidAllocator, type IoasidSet } from '@iommu-lab/ioasid';
import { ErrnoError, type Host } from '@iommu-lab/platform';

const allocators = new WeakMap<Host, IoasidAllocator>();

/** The allocator the VMMs of `host` share. */
export function vmmPasidAllocator(host: Host): IoasidAllocator {
  let a = allocators.get(host);
  if (!a) allocators.set(host, (a = new IoasidAllocator()));
  return a;
}

/** PASID_MIN: PASID 0 is RID_PASID, never handed out. */
export const PASID_MIN = 1;

export class VmPasids {
  readonly ioasid: IoasidAllocator;
  readonly set: IoasidSet;

  constructor(
    host: Host,
    /** The VM: the set's token. */
    token: object,
    quota: number,
  ) {
    this.ioasid = vmmPasidAllocator(host);
    this.set = this.ioasid.allocSet({ quota, token });
  }

  /** The lowest free PASID in [PASID_MIN, max]; -1 when the quota or the space is exhausted. */
  alloc(max: number): number {
    try {
      return this.ioasid.alloc(this.set, PASID_MIN, max);
    } catch (e) {
      if (e instanceof ErrnoError && e.code === 'ENOSPC') return -1;
      throw e;
    }
  }

  /** Whether the VM holds `pasid` (a guest may only bind and free its own). */
  owns(pasid: number): boolean {
    return this.set.has(pasid);
  }

  /** Gives a PASID back; false when the VM does not hold it. */
  free(pasid: number): boolean {
    if (!this.owns(pasid)) return false;
    this.ioasid.free(this.set, pasid);
    return true;
  }

  /** VM teardown: every PASID back, and the set with its quota. */
  release(): void {
    this.ioasid.freeAllInSet(this.set);
    this.ioasid.freeSet(this.set);
  }

  get held(): number {
    return this.set.size;
  }
}
