// `iommu-lab compare`: the same workload in shadow and nested mode, strict and lazy, side by side.
import { writeFileSync } from 'node:fs';
import { type RunResult, total } from '@iommu-lab/viommu';
import { NESTED_CMDLINE, SHADOW_CMDLINE, SMMU_NESTED_CMDLINE } from '@iommu-lab/viommu/bench';
import { Command } from 'commander';
import { runOnce } from './run-cmd.js';

/** The configurations compare runs on the built-in machine's VT-d device (0000:01:00.0). */
export const COMPARE_CONFIGS: readonly { label: string; qemu: string; flush: 'strict' | 'lazy' }[] = [
  { label: 'shadow strict', qemu: SHADOW_CMDLINE, flush: 'strict' },
  { label: 'shadow lazy', qemu: SHADOW_CMDLINE, flush: 'lazy' },
  { label: 'nested strict', qemu: NESTED_CMDLINE, flush: 'strict' },
  { label: 'nested lazy', qemu: NESTED_CMDLINE, flush: 'lazy' },
];

/** --vendors: the two nested paths side by side (VT-d x-flts, SMMUv3 accel), strict and lazy. */
export const VENDOR_CONFIGS: readonly { label: string; qemu: string; flush: 'strict' | 'lazy' }[] = [
  { label: 'VT-d strict', qemu: NESTED_CMDLINE, flush: 'strict' },
  { label: 'VT-d lazy', qemu: NESTED_CMDLINE, flush: 'lazy' },
  { label: 'SMMUv3 strict', qemu: SMMU_NESTED_CMDLINE, flush: 'strict' },
  { label: 'SMMUv3 lazy', qemu: SMMU_NESTED_CMDLINE, flush: 'lazy' },
];

interface Row {
  label: string;
  value: (r: RunResult) => number;
  digits?: number;
}

const ROWS: Row[] = [
  { label: 'wall time (ms)', value: (r) => r.timeMs, digits: 1 },
  { label: 'VM exits', value: (r) => total(r.stats.vmExits) },
  { label: 'host ioctls', value: (r) => total(r.stats.hostIoctls) },
  { label: 'guest invalidations', value: (r) => total(r.stats.guestInvalidations) },
  { label: 'DMA ops', value: (r) => r.stats.dmaOps },
  { label: 'DMA faults', value: (r) => r.stats.dmaFaults },
  { label: 'data errors', value: (r) => r.stats.dataErrors },
  { label: 'host IOTLB misses', value: (r) => r.stats.hostIotlb.misses },
];

export function formatCompare(labels: readonly string[], results: readonly RunResult[]): string {
  const w = 16;
  const head = `${''.padEnd(22)}${labels.map((l) => l.padStart(w)).join('')}`;
  const lines = [head, '-'.repeat(head.length)];
  for (const row of ROWS) {
    lines.push(`${row.label.padEnd(22)}${results.map((r) => row.value(r).toLocaleString('en-US', { maximumFractionDigits: row.digits ?? 0 }).padStart(w)).join('')}`);
  }
  const t = (label: string) => results[labels.indexOf(label)]?.timeMs;
  for (const f of ['strict', 'lazy']) {
    const s = t(`shadow ${f}`);
    const n = t(`nested ${f}`);
    if (s !== undefined && n !== undefined) lines.push(`shadow/nested wall time, ${f}: ${(s / n).toFixed(2)}x`);
  }
  return lines.join('\n');
}

/** A grouped bar chart (wall time and VM exits per configuration), hand-written SVG. */
export function compareSvg(labels: readonly string[], results: readonly RunResult[]): string {
  const metrics: [string, (r: RunResult) => number][] = [
    ['wall time (ms)', (r) => r.timeMs],
    ['VM exits', (r) => total(r.stats.vmExits)],
    ['host ioctls', (r) => total(r.stats.hostIoctls)],
  ];
  const colors = ['#d95f02', '#e6ab02', '#1b9e77', '#7570b3'];
  const W = 220;
  const H = 160;
  const parts: string[] = [];
  metrics.forEach(([name, f], m) => {
    const x0 = 20 + m * (W + 30);
    const vals = results.map(f);
    const max = Math.max(...vals, 1);
    parts.push(`<text x="${x0}" y="20" font-size="13" font-family="sans-serif">${name}</text>`);
    vals.forEach((v, i) => {
      const h = (v / max) * H;
      const bx = x0 + i * (W / vals.length);
      parts.push(`<rect x="${bx.toFixed(1)}" y="${(190 - h).toFixed(1)}" width="${(W / vals.length - 6).toFixed(1)}" height="${h.toFixed(1)}" fill="${colors[i % colors.length]}"><title>${labels[i]}: ${v.toFixed(1)}</title></rect>`);
      parts.push(`<text x="${bx.toFixed(1)}" y="${(185 - h).toFixed(1)}" font-size="10" font-family="sans-serif">${Math.round(v)}</text>`);
    });
  });
  labels.forEach((l, i) => parts.push(`<rect x="${20 + i * 130}" y="205" width="10" height="10" fill="${colors[i % colors.length]}"/><text x="${34 + i * 130}" y="214" font-size="11" font-family="sans-serif">${l}</text>`));
  const width = 20 + metrics.length * (W + 30);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="225" viewBox="0 0 ${width} 225">${parts.join('')}</svg>\n`;
}

export function compareCommand(loadSpec: (file?: string) => unknown, print: (s: string) => void): Command {
  return new Command('compare')
    .description("run one workload in shadow and nested mode, strict and lazy, on the host's VT-d device (--vendors: VT-d and SMMUv3 nested), and print the table")
    .option('--workload <spec>', 'NAME[,key=value...] (flush is set per column)', 'dma-churn,iterations=2000,size=4096')
    .option('--svg <file>', 'also write a bar chart as SVG')
    .option('--vendors', 'compare the nested paths of VT-d (x-flts) and SMMUv3 (accel) instead of shadow and nested')
    .option('--json', 'print the four runs as JSON')
    .option('--spec <file>', 'host spec JSON file (the built-in default machine without one)')
    .action((opts: { workload: string; svg?: string; json?: boolean; spec?: string; vendors?: boolean }) => {
      const spec = loadSpec(opts.spec);
      const base = opts.workload.split(',').filter((kv) => !kv.startsWith('flush=')).join(',');
      const configs = opts.vendors ? VENDOR_CONFIGS : COMPARE_CONFIGS;
      const results = configs.map((c) => runOnce(spec, c.qemu.split(' '), `${base},flush=${c.flush}`));
      const labels = configs.map((c) => c.label);
      if (opts.svg) writeFileSync(opts.svg, compareSvg(labels, results));
      print(opts.json ? JSON.stringify(results.map((r, i) => ({ label: labels[i], ...r }))) : formatCompare(labels, results));
    });
}
