// stream: long-lived mappings and many DMAs between them; the translation caches do the work.
import type { Workload } from './workload.js';

export const stream: Workload = {
  name: 'stream',
  description: 'map a set of buffers once, then many device copies between them, then unmap',
  defaults: { buffers: 8, size: 65536, iterations: 2000 },
  steps: (p) => p.iterations!,
  run(g, p, progress) {
    const n = Math.max(2, p.buffers!);
    const size = p.size!;
    const dma = g.dma();
    const bufs = Array.from({ length: n }, (_, i) => {
      const gpa = g.alloc(size);
      g.fillPattern(gpa, size, i + 1);
      return { gpa, iova: dma.map(gpa, size, 'bidirectional') };
    });
    for (let i = 0; i < p.iterations!; i++) {
      const src = bufs[i % n]!;
      const dst = bufs[(i * 7 + 3) % n === i % n ? (i + 1) % n : (i * 7 + 3) % n]!;
      g.memmove(undefined, dst.iova, src.iova, size);
      progress?.(i + 1, p.iterations!);
    }
    for (const b of bufs) {
      dma.unmap(b.iova, size);
      g.free(b.gpa, size);
    }
    g.flushQueue();
  },
};
