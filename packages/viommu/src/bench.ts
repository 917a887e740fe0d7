// Benchmarks of the issue: 100 000 dma-churn iterations of 4 KiB in nested mode in <= 5 s, and shadow for the ratio.
// The host comes from the caller (iommu-lab's createHost): the VMM layer cannot build a VT-d host itself.
import type { BenchCase, Host } from '@iommu-lab/platform';
import type { FlushMode } from './guest/dma-iommu.js';
import './arm-smmuv3/index.js';
import './intel-iommu/index.js';
import { dmaChurn } from './workloads/dma-churn.js';
import { runWorkload } from './workloads/run.js';
import { sva } from './workloads/sva.js';

const VFIO = '-object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0';
export const NESTED_CMDLINE = `-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on,aw-bits=48,fs1gp=on ${VFIO}`;
/** The accelerated arm-smmuv3 on the default host's SMMUv3 device (0000:02:00.0). */
export const SMMU_NESTED_CMDLINE =
  '-m 2G -M virt -device arm-smmuv3,primary-bus=pcie.0,accel=on -object iommufd,id=iommufd0 -device vfio-pci,host=0000:02:00.0,iommufd=iommufd0';
/** vSVA: x-flts with PASIDs, device-TLBs and svm (VCMD, page requests). */
export const SVA_CMDLINE = `-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on,aw-bits=48,x-pasid-mode=on,device-iotlb=on,svm=on ${VFIO}`;
/** vSVA on the accelerated arm-smmuv3: ATS, PRI, SubstreamIDs, and an OAS as wide as the guest CPU's PAs. */
export const SVA_SMMU_CMDLINE =
  '-m 2G -M virt -device arm-smmuv3,primary-bus=pcie.0,accel=on,ats=on,pri=on,ssidsize=20,oas=48 -object iommufd,id=iommufd0 -device vfio-pci,host=0000:02:00.0,iommufd=iommufd0';
/** The default host's first-stage auto domain covers 47 bits, so a shadowing guest uses aw-bits=39. */
export const SHADOW_CMDLINE = `-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,caching-mode=on,aw-bits=39 ${VFIO}`;

/** The dma-churn workload on a fresh VM; returns its wall time in ms (boot excluded), refusing a run with errors. */
export function dmaChurnMs(host: Host, cmdline: string, flush: FlushMode, iterations: number, size = 4096): number {
  const r = runWorkload(host, cmdline, dmaChurn, { name: dmaChurn.name, flush, params: { iterations, size } });
  if (r.stats.dataErrors || r.stats.dmaFaults) throw new Error(`dma-churn: ${r.stats.dataErrors} data errors, ${r.stats.dmaFaults} faults`);
  return r.timeMs;
}

/** The sva workload (1000 x 2 processes x 16 KiB, pages reclaimed every 10) on a fresh VM; its wall time in ms. */
function svaMs(host: Host, cmdline: string): number {
  const r = runWorkload(host, cmdline, sva, { name: sva.name, flush: 'strict', params: { iterations: 1000, size: 16384, processes: 2, faultEvery: 10 } });
  if (r.stats.dataErrors) throw new Error(`sva: ${r.stats.dataErrors} data errors`);
  return r.timeMs;
}

/** The cases for `npm run bench`, on hosts from `makeHost` (the built-in machine: VT-d at 0000:01:00.0). */
export function viommuBenchmarks(makeHost: () => Host, iterations = 100_000): BenchCase[] {
  let nested = 0;
  let shadow = 0;
  return [
    {
      name: `dma-churn ${iterations} x 4 KiB, nested (x-flts), strict`,
      kind: 'value',
      unit: 'ms',
      runs: 1,
      goal: { op: '<=', value: 5000 },
      fn: () => (nested = dmaChurnMs(makeHost(), NESTED_CMDLINE, 'strict', iterations)),
    },
    {
      name: `dma-churn ${iterations} x 4 KiB, nested (x-flts), lazy`,
      kind: 'value',
      unit: 'ms',
      runs: 1,
      fn: () => dmaChurnMs(makeHost(), NESTED_CMDLINE, 'lazy', iterations),
    },
    {
      name: `dma-churn ${iterations} x 4 KiB, nested (arm-smmuv3 accel), strict`,
      kind: 'value',
      unit: 'ms',
      runs: 1,
      goal: { op: '<=', value: 5000 },
      fn: () => dmaChurnMs(makeHost(), SMMU_NESTED_CMDLINE, 'strict', iterations),
    },
    {
      name: `dma-churn ${iterations} x 4 KiB, shadow (caching mode), strict`,
      kind: 'value',
      unit: 'ms',
      runs: 1,
      fn: () => (shadow = dmaChurnMs(makeHost(), SHADOW_CMDLINE, 'strict', iterations)),
    },
    {
      name: 'sva 1000 x 2 processes x 16 KiB, pages reclaimed every 10 (800 PRI round trips through the guest)',
      kind: 'value',
      unit: 'ms',
      runs: 1,
      fn: () => svaMs(makeHost(), SVA_CMDLINE),
    },
    {
      name: 'sva 1000 x 2 processes x 16 KiB on arm-smmuv3 accel, pages reclaimed every 10 (800 PRI round trips)',
      kind: 'value',
      unit: 'ms',
      runs: 1,
      fn: () => svaMs(makeHost(), SVA_SMMU_CMDLINE),
    },
    {
      name: 'dma-churn shadow / nested wall time (strict)',
      kind: 'value',
      unit: 'x',
      runs: 1,
      fn: () => (nested > 0 ? shadow / nested : NaN),
    },
  ];
}
