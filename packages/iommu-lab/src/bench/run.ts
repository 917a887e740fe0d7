// Runs benchmark cases: ops cases through tinybench, value cases as the median of their runs.
import type { BenchCase } from '@iommu-lab/platform';
import { Bench } from 'tinybench';

export interface BenchResult {
  pkg: string;
  name: string;
  value: number;
  unit: string;
  goal: string | null;
  /** value / goal for '>=' goals, goal / value for '<=' goals: >= 1 meets the goal. */
  ratio: number | null;
  meets: boolean | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function measure(c: BenchCase, timeMs: number): Promise<number> {
  c.setup?.();
  try {
    if (c.kind === 'value') {
      for (let i = 0; i < (c.warmup ?? 0); i++) c.fn();
      const runs: number[] = [];
      for (let i = 0; i < (c.runs ?? 3); i++) runs.push(Number(c.fn()));
      return median(runs);
    }
    const bench = new Bench({ time: timeMs, warmupTime: Math.min(200, timeMs / 2) });
    bench.add(c.name, () => {
      c.fn();
    });
    await bench.run();
    const r = bench.tasks[0]!.result as { throughput?: { mean: number }; error?: unknown };
    if (r.error) throw r.error;
    return (r.throughput?.mean ?? 0) * (c.opsPerCall ?? 1);
  } finally {
    c.teardown?.();
  }
}

export async function runCase(pkg: string, c: BenchCase, timeMs = 500): Promise<BenchResult> {
  const value = await measure(c, timeMs);
  const unit = c.kind === 'ops' ? 'ops/s' : (c.unit ?? '');
  let ratio: number | null = null;
  if (c.goal) ratio = c.goal.op === '>=' ? value / c.goal.value : c.goal.value / value;
  return {
    pkg,
    name: c.name,
    value,
    unit,
    goal: c.goal ? `${c.goal.op} ${formatValue(c.goal.value, unit)}` : null,
    ratio,
    meets: ratio === null ? null : ratio >= 1,
  };
}

export function formatValue(v: number, unit: string): string {
  if (unit === 'ops/s') {
    if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M/s`;
    if (v >= 1e3) return `${(v / 1e3).toFixed(2)} k/s`;
    return `${v.toFixed(1)} /s`;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(2)} ${unit}`.trim();
}

export function formatTable(results: readonly BenchResult[]): string {
  const rows = results.map((r) => [
    r.pkg,
    r.name,
    formatValue(r.value, r.unit),
    r.goal ?? '',
    r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`,
    r.meets === null ? '' : r.meets ? 'meets goal' : 'MISSES goal',
  ]);
  const head = ['package', 'benchmark', 'result', 'goal', 'ratio', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
