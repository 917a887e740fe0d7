// `iommu-lab run <QEMU options> --workload ...`: a VM on the host runs a workload; its counters are printed.
import { writeFileSync } from 'node:fs';
import { parseWorkload, type RunResult, runWorkload, total, type VmStats, workloads } from '@iommu-lab/viommu';
import { Command } from 'commander';
import { createHost, type LabHost } from './create-host.js';
import { hostIotlbCounters } from './host-iotlb.js';

export interface RunCliOptions {
  workload: string;
  json?: boolean;
  trace?: string;
  spec?: string;
}

const fmt = (n: number) => n.toLocaleString('en-US');

function topEntries(rec: Record<string, number>, max = 6): string {
  const e = Object.entries(rec).sort((a, b) => b[1] - a[1]);
  const shown = e.slice(0, max).map(([k, v]) => `${k} ${fmt(v)}`);
  if (e.length > max) shown.push(`(+${e.length - max} more)`);
  return shown.join(', ');
}

function statsLines(s: VmStats): string[] {
  return [
    `  VM exits             ${fmt(total(s.vmExits)).padStart(9)}   ${topEntries(s.vmExits)}`,
    `  host ioctls          ${fmt(total(s.hostIoctls)).padStart(9)}   ${topEntries(s.hostIoctls)}`,
    `  guest invalidations  ${fmt(total(s.guestInvalidations)).padStart(9)}   ${topEntries(s.guestInvalidations)}`,
    `  DMA                  ${fmt(s.dmaOps).padStart(9)} ops, ${fmt(s.dmaFaults)} faults, ${fmt(s.dataErrors)} data errors`,
    `  host IOTLB           ${fmt(s.hostIotlb.hits).padStart(9)} hits, ${fmt(s.hostIotlb.misses)} misses`,
  ];
}

/** The readable summary of a run. */
export function formatRun(r: RunResult): string {
  const w = r.workload;
  const params = Object.entries(w.params).map(([k, v]) => `${k}=${v}`).join(',');
  return [
    `vIOMMU    ${r.viommu ?? '(none)'}`,
    `mode      ${r.mode}`,
    `workload  ${w.name},${params},flush=${w.flush}`,
    `time      ${r.timeMs.toFixed(1)} ms (setup ${r.setupMs.toFixed(1)} ms)`,
    'workload phase:',
    ...statsLines(r.stats),
    'setup (boot, devices):',
    ...statsLines(r.setupStats),
  ].join('\n');
}

/** A progress bar on stderr for runs that take a while, when stderr is a terminal. */
export function progressBar(): (done: number, total: number) => void {
  if (!process.stderr.isTTY) return () => {};
  const start = performance.now();
  let last = 0;
  return (done, all) => {
    const now = performance.now();
    if (done < all && (now - start < 500 || now - last < 100)) return;
    last = now;
    const width = 30;
    const filled = Math.round((done / all) * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.floor((100 * done) / all)}% ${done}/${all}`);
    if (done === all) process.stderr.write('\n');
  };
}

/** Runs one workload on a fresh host (the default machine or a spec). */
export function runOnce(spec: unknown, qemu: readonly string[], workloadText: string, trace?: string): RunResult {
  const { workload, spec: wspec } = parseWorkload(workloadText, workloads);
  const host: LabHost = createHost(spec);
  if (trace) host.trace.enable('*');
  const r = runWorkload(host, qemu, workload, wspec, { progress: progressBar(), hostIotlb: () => hostIotlbCounters(host) });
  if (trace) writeFileSync(trace, JSON.stringify(host.trace.toChromeTrace()));
  return r;
}

export function runCommand(loadSpec: (file?: string) => unknown, print: (s: string) => void): Command {
  return new Command('run')
    .description('boot a VM from QEMU options on the host and run a workload in its guest (e.g. -m 2G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on ...)')
    .argument('<qemu...>', 'QEMU options: -m, -M, -device intel-iommu,... | arm-smmuv3,..., -object iommufd,id=..., -device vfio-pci,host=BDF,iommufd=...')
    .requiredOption('--workload <spec>', `NAME[,key=value...]: ${workloads.map((w) => w.name).join(', ')}; flush=strict|lazy`)
    .option('--json', 'print one JSON object')
    .option('--trace <file>', 'write a Chrome trace (Perfetto) of exits, ioctls, walks and invalidations')
    .option('--spec <file>', 'host spec JSON file (the built-in default machine without one)')
    .allowUnknownOption()
    .action((qemu: string[], opts: RunCliOptions) => {
      const r = runOnce(loadSpec(opts.spec), qemu, opts.workload, opts.trace);
      print(opts.json ? JSON.stringify(r) : formatRun(r));
    });
}
