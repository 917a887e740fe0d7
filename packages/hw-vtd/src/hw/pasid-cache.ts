// PASID cache (VT-d spec 6.2.2): scalable-mode PASID-table entries by (source ID, PASID), tagged with their DID.

export const PE_FPD = 1 << 0;
export const PE_SRE = 1 << 1;
export const PE_ERE = 1 << 2;
export const PE_WPE = 1 << 3;
export const PE_EAFE = 1 << 4;
export const PE_SSADE = 1 << 5;
export const PE_PWSNP = 1 << 6;
export const PE_PGSNP = 1 << 7;

/**
 * A direct-mapped table of `size` slots keyed by rid * 2^20 + pasid. A slot holds what a walk
 * needs from the entry; a newer key evicts the older one in its slot.
 */
export class PasidCache {
  readonly keys: Float64Array;
  readonly did: Int32Array;
  readonly pgtt: Uint8Array;
  readonly ssLevels: Uint8Array;
  readonly fsLevels: Uint8Array;
  readonly flags: Uint16Array;
  readonly ssptPfn: Float64Array;
  readonly fsptPfn: Float64Array;
  readonly mask: number;
  hits = 0;
  misses = 0;
  invalidations = 0;

  constructor(readonly size = 4096) {
    this.keys = new Float64Array(size).fill(-1);
    this.did = new Int32Array(size);
    this.pgtt = new Uint8Array(size);
    this.ssLevels = new Uint8Array(size);
    this.fsLevels = new Uint8Array(size);
    this.flags = new Uint16Array(size);
    this.ssptPfn = new Float64Array(size);
    this.fsptPfn = new Float64Array(size);
    this.mask = size - 1;
  }

  slotOf(rid: number, pasid: number): number {
    return ((rid * 0x9e3779b1) ^ (pasid * 0x85ebca6b)) & this.mask;
  }

  /** The slot holding (rid, pasid), or -1 on a miss. Counts the outcome. */
  lookup(rid: number, pasid: number): number {
    const slot = this.slotOf(rid, pasid);
    if (this.keys[slot] === rid * 1048576 + pasid) {
      this.hits++;
      return slot;
    }
    this.misses++;
    return -1;
  }

  /** Claims the slot of (rid, pasid) for a fill; the caller writes the fields. */
  claim(rid: number, pasid: number): number {
    const slot = this.slotOf(rid, pasid);
    this.keys[slot] = rid * 1048576 + pasid;
    return slot;
  }

  pasidOf(slot: number): number {
    return this.keys[slot]! % 1048576;
  }

  invalidateAll(): void {
    this.keys.fill(-1);
    this.invalidations++;
  }

  /** Domain-selective (pasid < 0) or PASID-selective within a domain. */
  invalidate(did: number, pasid: number): void {
    for (let i = 0; i < this.size; i++) {
      if (this.keys[i] === -1 || this.did[i] !== did) continue;
      if (pasid >= 0 && this.keys[i]! % 1048576 !== pasid) continue;
      this.keys[i] = -1;
    }
    this.invalidations++;
  }

  get entries(): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.keys[i] !== -1) n++;
    return n;
  }
}
