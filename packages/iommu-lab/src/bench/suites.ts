// Every package's benchmark cases, in the order `npm run bench` runs them.
import type { BenchCase } from '@iommu-lab/platform';
import { benchmarks as platform } from '@iommu-lab/platform/bench';

export interface BenchSuite {
  readonly pkg: string;
  readonly cases: readonly BenchCase[];
}

export const suites: readonly BenchSuite[] = [{ pkg: 'platform', cases: platform }];
