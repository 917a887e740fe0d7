// Workloads a guest runs on its passthrough devices, named and parameterised as `--workload NAME,key=value,...`.
import type { FlushMode, Guest } from '../guest/index.js';

export interface WorkloadSpec {
  readonly name: string;
  /** The guest's IOTLB flushing: iommu.strict=1 or the flush queue. */
  readonly flush: FlushMode;
  readonly params: Readonly<Record<string, number>>;
}

/** Reports progress: `done` of `total` steps. */
export type Progress = (done: number, total: number) => void;

export interface Workload {
  readonly name: string;
  readonly description: string;
  /** Numeric keys and their defaults. */
  readonly defaults: Readonly<Record<string, number>>;
  /** Steps the workload will take with these params (for the progress bar). */
  steps(params: Readonly<Record<string, number>>): number;
  run(g: Guest, params: Readonly<Record<string, number>>, progress?: Progress): void;
}

/** A bad --workload value: the message names the key. */
export class WorkloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkloadError';
  }
}

/** Parses "dma-churn,iterations=1000,size=4096,flush=strict" against the known workloads. */
export function parseWorkload(text: string, known: readonly Workload[]): { workload: Workload; spec: WorkloadSpec } {
  const [name, ...kvs] = text.split(',');
  const workload = known.find((w) => w.name === name);
  if (!workload) throw new WorkloadError(`--workload ${text}: unknown workload "${name}" (known: ${known.map((w) => w.name).join(', ')})`);
  const params: Record<string, number> = { ...workload.defaults };
  let flush: FlushMode = 'lazy'; // Linux's default: the flush queue
  for (const kv of kvs) {
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    const value = eq < 0 ? '' : kv.slice(eq + 1);
    if (key === 'flush') {
      if (value !== 'strict' && value !== 'lazy') throw new WorkloadError(`--workload ${text}: flush must be strict or lazy, not "${value}"`);
      flush = value;
      continue;
    }
    if (!(key in workload.defaults)) throw new WorkloadError(`--workload ${text}: ${name} has no key "${key}" (keys: flush, ${Object.keys(workload.defaults).join(', ')})`);
    const n = /^(0x[0-9a-f]+|\d+)([kKmM]?)$/.exec(value);
    if (!n) throw new WorkloadError(`--workload ${text}: ${key} must be a non-negative integer (K and M suffixes allowed), not "${value}"`);
    params[key] = Number(n[1]) * (n[2] === '' ? 1 : n[2]!.toLowerCase() === 'k' ? 1024 : 1024 * 1024);
  }
  return { workload, spec: { name: workload.name, flush, params } };
}
