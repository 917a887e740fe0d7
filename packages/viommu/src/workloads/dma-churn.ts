// dma-churn: map a buffer, let the device write it, check it, unmap; the map/unmap cost dominates.
import type { Workload } from './workload.js';

export const dmaChurn: Workload = {
  name: 'dma-churn',
  description: 'map, DMA (the device fills the buffer), check, unmap; repeated',
  defaults: { iterations: 1000, size: 4096 },
  steps: (p) => p.iterations!,
  run(g, p, progress) {
    const size = p.size!;
    const buf = g.alloc(size);
    const dma = g.dma();
    for (let i = 0; i < p.iterations!; i++) {
      const iova = dma.map(buf, size, 'from-device');
      g.memfill(undefined, iova, size, 0x5a5a_0000_0000_0000n + BigInt(i));
      dma.unmap(iova, size);
      progress?.(i + 1, p.iterations!);
    }
    g.flushQueue();
    g.free(buf, size);
  },
};
