// The built-in workloads.
import { dmaChurn } from './dma-churn.js';
import { mixed } from './mixed.js';
import { stream } from './stream.js';
import { sva } from './sva.js';
import type { Workload } from './workload.js';

export * from './workload.js';
export * from './run.js';
export { dmaChurn, mixed, stream, sva };

export const workloads: readonly Workload[] = [dmaChurn, stream, mixed, sva];
