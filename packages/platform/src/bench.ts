// Platform benchmarks: physical memory word access, pinning, and the cost of untouched RAM.
import { execFileSync } from 'node:child_process';
import type { BenchCase } from './bench-case.js';
import { Host } from './host.js';
import { PhysMem } from './phys-mem.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const N = 1_000_000;

function physWords(): { mem: PhysMem; addrs: Float64Array } {
  const mem = new PhysMem(256 * MiB);
  const addrs = new Float64Array(4096);
  for (let i = 0; i < addrs.length; i++) addrs[i] = ((i * 7919) % (256 * 128)) * 8 * 64;
  for (const a of addrs) mem.setU64(a, BigInt(a));
  return { mem, addrs };
}

const words = physWords();
let sink = 0n;

const u64Read: BenchCase = {
  name: 'phys u64 read',
  kind: 'ops',
  opsPerCall: N,
  goal: { op: '>=', value: 50e6 },
  fn() {
    const { mem, addrs } = words;
    let s = 0n;
    for (let i = 0; i < N; i++) s ^= mem.u64(addrs[i & 4095]!);
    sink ^= s;
  },
};

const u64Write: BenchCase = {
  name: 'phys u64 write',
  kind: 'ops',
  opsPerCall: N,
  goal: { op: '>=', value: 50e6 },
  fn() {
    const { mem, addrs } = words;
    for (let i = 0; i < N; i++) mem.setU64(addrs[i & 4095]!, 0x8000_0000_1234_5007n);
  },
};

const entryRead: BenchCase = {
  name: 'phys entry read (u32 halves, the walkers\' path)',
  kind: 'ops',
  opsPerCall: N,
  fn() {
    const { mem, addrs } = words;
    const out = new Uint32Array(2);
    let x = 0;
    for (let i = 0; i < N; i++) {
      mem.read64(addrs[i & 4095]!, out);
      x ^= out[0]! ^ out[1]!;
    }
    sink ^= BigInt(x);
  },
};

let pinHost: Host | undefined;
let pinned: Uint32Array | undefined;
const pin1G: BenchCase = {
  name: 'pin 1 GiB of 4 KiB pages (fault in + pin)',
  kind: 'value',
  unit: 'ms',
  runs: 3,
  goal: { op: '<=', value: 100 },
  setup() {
    pinHost = new Host({ memory: 2 * GiB });
  },
  fn() {
    const p = pinHost!.spawnProcess();
    const va = Number(p.mmap(GiB));
    const t0 = performance.now();
    pinned = p.mm.pin(va, GiB / 4096, true);
    const ms = performance.now() - t0;
    for (const pfn of pinned) pinHost!.frames.unpin(pfn);
    p.exit();
    return ms;
  },
};

const rss: BenchCase = {
  name: 'RSS of a 64 GiB host with 1 GiB touched',
  kind: 'value',
  unit: 'MiB',
  runs: 1,
  goal: { op: '<=', value: 1280 },
  fn() {
    const script = `
      import { Host } from '@iommu-lab/platform';
      const h = new Host({ memory: 64 * 2 ** 30 });
      const p = h.spawnProcess();
      const va = p.mmap(2 ** 30);
      const page = new Uint8Array(4096).fill(0xa5);
      for (let off = 0n; off < 1n << 30n; off += 4096n) p.memWrite(va + off, page);
      globalThis.gc?.();
      process.stdout.write(String(process.memoryUsage().rss));`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    return Number(out) / MiB;
  },
};

export const benchmarks: BenchCase[] = [u64Read, u64Write, entryRead, pin1G, rss];

/** Keeps the read loops from being optimised away. */
export function benchSink(): bigint {
  return sink;
}
