// Helpers the VMM end-to-end tests share: what a guest operation cost, one dma-churn step.
import { cloneStats, type Guest, statsDelta, type Vm, type VmStats } from '@iommu-lab/viommu';

/** What `fn` cost: exits, host ioctls and guest invalidations by name. */
export function cost(vm: Vm, fn: () => void): VmStats {
  const before = cloneStats(vm.stats);
  fn();
  return statsDelta(vm.stats, before);
}

/**
 * One dma-churn iteration of `size` bytes: map, the device fills the buffer (the guest checks every
 * byte), unmap; each step's cost. The fill's success is returned for the caller to assert.
 */
export function churn(vm: Vm, g: Guest, buf: number, i: number, size = 4096) {
  const dma = g.dma();
  let iova = 0;
  let filled = false;
  const map = cost(vm, () => (iova = dma.map(buf, size, 'from-device')));
  const dmaOp = cost(vm, () => (filled = g.memfill(undefined, iova, size, 0x0101_0101_0000_0000n + BigInt(i))));
  const unmap = cost(vm, () => dma.unmap(iova, size));
  return { map, dmaOp, unmap, iova, filled };
}
