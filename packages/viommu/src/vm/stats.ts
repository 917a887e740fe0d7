// What a run counts: VM exits, host ioctls, guest invalidations, DMA, faults, data errors (the stats object).

export interface VmStats {
  /** VM exits by cause ("mmio-write:intel-iommu:IQT_REG", ...). */
  vmExits: Record<string, number>;
  /** Host ioctls the VMM issued, by name ("IOMMU_IOAS_MAP"). */
  hostIoctls: Record<string, number>;
  /** Invalidation descriptors the guest queued, by type ("iotlb", "piotlb", "pc", "cc", "wait", ...). */
  guestInvalidations: Record<string, number>;
  /** DMA operations the device performed. */
  dmaOps: number;
  dmaFaults: number;
  /** Bytes the guest found different from what it expected. */
  dataErrors: number;
  /** The host IOMMU's translation cache, when the unit exposes counters. */
  hostIotlb: { hits: number; misses: number };
}

export function emptyStats(): VmStats {
  return { vmExits: {}, hostIoctls: {}, guestInvalidations: {}, dmaOps: 0, dmaFaults: 0, dataErrors: 0, hostIotlb: { hits: 0, misses: 0 } };
}

export function bump(rec: Record<string, number>, key: string, n = 1): void {
  rec[key] = (rec[key] ?? 0) + n;
}

/** Sum of a counter record. */
export function total(rec: Record<string, number>): number {
  let s = 0;
  for (const v of Object.values(rec)) s += v;
  return s;
}

/** `after - before`, key by key (counters only grow). */
export function statsDelta(after: VmStats, before: VmStats): VmStats {
  const sub = (a: Record<string, number>, b: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(a)) if (v - (b[k] ?? 0)) out[k] = v - (b[k] ?? 0);
    return out;
  };
  return {
    vmExits: sub(after.vmExits, before.vmExits),
    hostIoctls: sub(after.hostIoctls, before.hostIoctls),
    guestInvalidations: sub(after.guestInvalidations, before.guestInvalidations),
    dmaOps: after.dmaOps - before.dmaOps,
    dmaFaults: after.dmaFaults - before.dmaFaults,
    dataErrors: after.dataErrors - before.dataErrors,
    hostIotlb: { hits: after.hostIotlb.hits - before.hostIotlb.hits, misses: after.hostIotlb.misses - before.hostIotlb.misses },
  };
}

export function cloneStats(s: VmStats): VmStats {
  return structuredClone(s);
}
