// mixed: every assigned device, random sizes, copies through short-lived mappings (a deterministic xorshift).
import type { Workload } from './workload.js';

export const mixed: Workload = {
  name: 'mixed',
  description: 'random sizes on every assigned device: map two buffers, copy, check, unmap',
  defaults: { iterations: 1000, maxSize: 65536, seed: 1 },
  steps: (p) => p.iterations!,
  run(g, p, progress) {
    const devs = g.vm.devices.map((d) => d.vfio.id);
    let x = p.seed! || 1;
    const rand = (n: number): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const maxPages = Math.max(1, Math.floor(p.maxSize! / 4096));
    for (let i = 0; i < p.iterations!; i++) {
      const dev = devs[rand(devs.length)]!;
      const size = (1 + rand(maxPages)) * 4096 - rand(64);
      const dma = g.dma(dev);
      const src = g.alloc(size);
      const dst = g.alloc(size);
      g.fillPattern(src, size, i);
      const s = dma.map(src, size, 'to-device');
      const d = dma.map(dst, size, 'from-device');
      g.memmove(dev, d, s, size);
      dma.unmap(d, size);
      dma.unmap(s, size);
      g.free(src, size);
      g.free(dst, size);
      progress?.(i + 1, p.iterations!);
    }
    g.flushQueue();
  },
};
