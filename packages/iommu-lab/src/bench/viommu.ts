// VMM benchmarks on the built-in machine: dma-churn through the emulated intel-iommu, nested and shadow.
import type { BenchCase } from '@iommu-lab/platform';
import { parseWorkload, runWorkload, workloads } from '@iommu-lab/viommu';
import { COMPARE_CONFIGS } from '../compare-cmd.js';
import { createHost } from '../create-host.js';

function churnMs(config: (typeof COMPARE_CONFIGS)[number], iterations: number): number {
  const { workload, spec } = parseWorkload(`dma-churn,iterations=${iterations},size=4096,flush=${config.flush}`, workloads);
  return runWorkload(createHost(), config.qemu.split(' '), workload, spec).timeMs;
}

const config = (label: string) => COMPARE_CONFIGS.find((c) => c.label === label)!;

const nested100k: BenchCase = {
  name: 'dma-churn 100 000 x 4 KiB, nested strict (x-flts, VT-d host)',
  kind: 'value',
  unit: 'ms',
  runs: 1,
  goal: { op: '<=', value: 5000 },
  fn: () => churnMs(config('nested strict'), 100_000),
};

const ratio: BenchCase = {
  name: 'dma-churn 10 000 x 4 KiB strict: shadow / nested wall time',
  kind: 'value',
  unit: 'x',
  runs: 1,
  fn: () => churnMs(config('shadow strict'), 10_000) / churnMs(config('nested strict'), 10_000),
};

export const benchmarks: BenchCase[] = [nested100k, ratio];
