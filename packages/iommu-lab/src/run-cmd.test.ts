import { parseWorkload, workloads } from '@iommu-lab/viommu';
import { describe, expect, it } from 'vitest';
import { runCli } from './__tests__/helpers.js';


const VFIO = '-object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0'.split(' ');
const NESTED = ['-m', '2G', '-M', 'q35', '-device', 'intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on,aw-bits=48', ...VFIO];
const SHADOW = ['-m', '2G', '-M', 'q35', '-device', 'intel-iommu,x-scalable-mode=on,caching-mode=on,aw-bits=39', ...VFIO];

describe('workload specs', () => {
  it('parse NAME,key=value with K/M suffixes, flush, and defaults', () => {
    const { spec } = parseWorkload('dma-churn,iterations=2k,size=8K,flush=strict', workloads);
    expect(spec).toEqual({ name: 'dma-churn', flush: 'strict', params: { iterations: 2048, size: 8192 } });
    expect(parseWorkload('stream', workloads).spec).toMatchObject({ flush: 'lazy', params: { buffers: 8, size: 65536, iterations: 2000 } });
  });

  it('refuse unknown workloads and keys, and bad values, naming them', () => {
    expect(() => parseWorkload('churn', workloads)).toThrow(/unknown workload "churn" \(known: dma-churn, stream, mixed, sva\)/);
    expect(() => parseWorkload('dma-churn,sizes=1', workloads)).toThrow(/has no key "sizes"/);
    expect(() => parseWorkload('dma-churn,size=-1', workloads)).toThrow(/size must be a non-negative integer/);
    expect(() => parseWorkload('dma-churn,flush=sometimes', workloads)).toThrow(/flush must be strict or lazy/);
  });
});

describe('iommu-lab run / compare / dump', () => {
  it('run --json: the workload phase counts apart from setup; nested strict dma-churn exits once per unmap and never on map', async () => {
    const r = await runCli('run', ...NESTED, '--workload', 'dma-churn,iterations=50,flush=strict', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ mode: 'nested', viommu: 'intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on,aw-bits=48', workload: { name: 'dma-churn', flush: 'strict' } });
    expect(j.stats.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 50 });
    expect(j.stats.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 50 });
    expect(j.stats).toMatchObject({ dmaOps: 50, dmaFaults: 0, dataErrors: 0 });
    expect(j.setupStats.hostIoctls.VFIO_DEVICE_BIND_IOMMUFD).toBe(1);
    expect(j.timeMs).toBeGreaterThan(0);
  });

  it('run in shadow mode: every map and every unmap is an exit and a host ioctl; the summary is readable', async () => {
    const r = await runCli('run', ...SHADOW, '--workload', 'dma-churn,iterations=20,flush=strict');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mode {6}shadow$/m);
    expect(r.out).toMatch(/VM exits +40 +mmio-write:intel-iommu:IQT_REG 40/);
    expect(r.out).toMatch(/host ioctls +40 +IOMMU_IOAS_MAP 20, IOMMU_IOAS_UNMAP 20/);
    expect(r.out).toMatch(/DMA +20 ops, 0 faults, 0 data errors/);
  });

  it('run stream and mixed move every byte', async () => {
    const s = JSON.parse((await runCli('run', ...NESTED, '--workload', 'stream,buffers=4,size=16k,iterations=40', '--json')).out);
    expect(s.stats).toMatchObject({ dmaOps: 40, dataErrors: 0, dmaFaults: 0 });
    const m = JSON.parse((await runCli('run', ...SHADOW, '--workload', 'mixed,iterations=30,maxSize=32k', '--json')).out);
    expect(m.stats).toMatchObject({ dmaOps: 30, dataErrors: 0, dmaFaults: 0 });
  });

  it('refuses bad QEMU options as QEMU does, and bad workloads with exit code 2', async () => {
    const q = await runCli('run', '-m', '2G', '-M', 'q35', '-device', 'intel-iommu,x-flts=on', ...VFIO, '--workload', 'dma-churn');
    expect(q.code).toBe(1);
    expect(q.err).toMatch(/intel-iommu,x-flts=on: x-flts is only available in scalable mode/);
    const w = await runCli('run', ...NESTED, '--workload', 'dma-churn,bogus=1');
    expect(w.code).toBe(2);
    expect(w.err).toMatch(/has no key "bogus"/);
  });

  it('compare prints the four columns and the shadow/nested ratios', async () => {
    const r = await runCli('compare', '--workload', 'dma-churn,iterations=40');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/shadow strict +shadow lazy +nested strict +nested lazy/);
    expect(r.out).toMatch(/^VM exits +80 +\d+ +40 +\d+$/m);
    expect(r.out).toMatch(/^data errors +0 +0 +0 +0$/m);
    expect(r.out).toMatch(/shadow\/nested wall time, strict: [\d.]+x/);
  });

  it('compare --vendors runs the VT-d and SMMUv3 nested paths side by side', async () => {
    const r = await runCli('compare', '--vendors', '--workload', 'dma-churn,iterations=30');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/VT-d strict +VT-d lazy +SMMUv3 strict +SMMUv3 lazy/);
    // Strict: one exit per unmap on both (IQT_REG on VT-d, CMDQ_PROD on SMMUv3); lazy batches them.
    expect(r.out).toMatch(/^VM exits +30 +\d+ +30 +\d+$/m);
    expect(r.out).toMatch(/^data errors +0 +0 +0 +0$/m);
  });

  it('dump on the accelerated arm-smmuv3 shows the guest and the host stream', async () => {
    const r = await runCli('dump', ...'-m 2G -M virt -device arm-smmuv3,primary-bus=pcie.0,accel=on -object iommufd,id=iommufd0 -device vfio-pci,host=0000:02:00.0,iommufd=iommufd0'.split(' '), '--buffers', '1', '--max-rows', '4');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/# guest: arm-smmuv3/);
    expect(r.out).toMatch(/# host: 0000:02:00\.0 behind smmu0/);
  });

  it('dump shows the guest tables and the host tables of the device, both stages', async () => {
    const r = await runCli('dump', ...NESTED, '--buffers', '1', '--max-rows', '3');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/# guest: intel-iommu, device vfio0 \(guest RID 0x0018\)/);
    expect(r.out).toMatch(/Device 0000:00:03\.0 with pasid 0/);
    expect(r.out).toMatch(/# host: 0000:01:00\.0 behind dmar0/);
    expect(r.out).toMatch(/nested stage 1/);
    expect(r.out).toMatch(/nested stage 2/);
    expect(r.out).toMatch(/\.\.\. \(stopped after 3 rows\)/);
  });
});
