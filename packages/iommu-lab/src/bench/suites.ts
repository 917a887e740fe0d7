// Every package's benchmark cases, in the order `npm run bench` runs them.
import type { BenchCase } from '@iommu-lab/platform';
import { benchmarks as bridge } from '@iommu-lab/bridge/bench';
import { benchmarks as smmuv3 } from '@iommu-lab/hw-smmuv3/bench';
import { benchmarks as vtd } from '@iommu-lab/hw-vtd/bench';
import { benchmarks as platform } from '@iommu-lab/platform/bench';
import { benchmarks as selftest } from '@iommu-lab/selftest/bench';
import { viommuBenchmarks } from '@iommu-lab/viommu/bench';
import { createHost } from '../create-host.js';

export interface BenchSuite {
  readonly pkg: string;
  readonly cases: readonly BenchCase[];
}

export const suites: readonly BenchSuite[] = [
  { pkg: 'platform', cases: platform },
  { pkg: 'hw-vtd', cases: vtd },
  { pkg: 'hw-smmuv3', cases: smmuv3 },
  { pkg: 'selftest', cases: selftest },
  { pkg: 'viommu', cases: viommuBenchmarks(() => createHost()) },
  { pkg: 'bridge', cases: bridge },
];
