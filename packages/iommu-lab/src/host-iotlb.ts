// The host IOMMUs' translation caches: the IOTLB hits and misses a run caused, summed over every unit.
import { SmmuV3 } from '@iommu-lab/hw-smmuv3';
import { VtdHardware } from '@iommu-lab/hw-vtd';
import type { LabHost } from './create-host.js';

export function hostIotlbCounters(host: LabHost): { hits: number; misses: number } {
  let hits = 0;
  let misses = 0;
  for (const u of host.iommu.units) {
    const hw = u.hw as unknown;
    if (hw instanceof VtdHardware) {
      hits += hw.tlbs.iotlb.stats.hits;
      misses += hw.tlbs.iotlb.stats.misses;
    } else if (hw instanceof SmmuV3) {
      hits += hw.tlb.cache.stats.hits;
      misses += hw.tlb.cache.stats.misses;
    }
  }
  return { hits, misses };
}
