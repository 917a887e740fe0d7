// One run: boot a VM from QEMU options, boot its guest, run a workload; count setup and workload separately.
import type { Host } from '@iommu-lab/platform';
import { bootGuest, type Guest } from '../guest/index.js';
import { qemuBool } from '../qemu/options.js';
import { cloneStats, emptyStats, statsDelta, type VmStats } from '../vm/stats.js';
import { Vm } from '../vm/vm.js';
import { type Progress, type Workload, type WorkloadSpec } from './workload.js';

export type RunMode = 'nested' | 'shadow' | 'none';

export interface RunResult {
  mode: RunMode;
  /** The vIOMMU as configured ("intel-iommu,x-scalable-mode=on,x-flts=on,..."), or null. */
  viommu: string | null;
  workload: WorkloadSpec;
  /** The workload phase only. */
  stats: VmStats;
  /** VM creation, guest boot and device setup. */
  setupStats: VmStats;
  timeMs: number;
  setupMs: number;
}

export interface RunOptions {
  progress?: Progress;
  /** Host IOTLB counters (hits, misses) of the IOMMU under the devices, read before and after the workload. */
  hostIotlb?: () => { hits: number; misses: number };
  /** Called with the VM and guest after the workload, before shutdown (e.g. for a dump). */
  inspect?: (vm: Vm, g: Guest) => void;
}

/** Nested when the vIOMMU binds guest tables to the host (x-flts, SMMUv3 accel); shadow when it traps maps. */
export function vmMode(vm: Vm): RunMode {
  const d = vm.cmdline.devices.find((x) => x.driver === vm.viommu?.name);
  if (!d) return 'none';
  if (d.driver === 'intel-iommu') return qemuBool(d, 'x-flts', false) ? 'nested' : 'shadow';
  return qemuBool(d, 'accel', false) ? 'nested' : 'shadow';
}

export function runWorkload(host: Host, qemuArgs: readonly string[] | string, workload: Workload, spec: WorkloadSpec, opts: RunOptions = {}): RunResult {
  const t0 = performance.now();
  const vm = new Vm(host, qemuArgs);
  try {
    const g = bootGuest(vm, { flush: spec.flush });
    const setupStats = cloneStats(vm.stats);
    vm.stats = emptyStats();
    const iotlb0 = opts.hostIotlb?.();
    const t1 = performance.now();
    workload.run(g, spec.params, opts.progress);
    const timeMs = performance.now() - t1;
    const iotlb1 = opts.hostIotlb?.();
    if (iotlb0 && iotlb1) vm.stats.hostIotlb = { hits: iotlb1.hits - iotlb0.hits, misses: iotlb1.misses - iotlb0.misses };
    opts.inspect?.(vm, g);
    const d = vm.cmdline.devices.find((x) => x.driver === vm.viommu?.name);
    return { mode: vmMode(vm), viommu: d ? d.text.replace(/^-device /, '') : null, workload: spec, stats: statsDelta(vm.stats, emptyStats()), setupStats, timeMs, setupMs: t1 - t0 };
  } finally {
    vm.shutdown();
  }
}
