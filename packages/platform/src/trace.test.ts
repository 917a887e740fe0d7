import { describe, expect, it } from 'vitest';
import { Tracer } from './trace.js';

describe('trace events', () => {
  it('are off by default and follow glob enables, including later tracepoints', () => {
    const t = new Tracer();
    const hit = t.point('vtd_iotlb_hit', 'vtd');
    expect(hit.enabled).toBe(false);
    t.enable('vtd_*');
    expect(hit.enabled).toBe(true);
    expect(t.point('vtd_iotlb_miss').enabled).toBe(true);
    expect(t.point('smmu_tlb_hit').enabled).toBe(false);
    t.disable('vtd_iotlb_miss');
    expect(t.point('vtd_iotlb_miss').enabled).toBe(false);
    expect(hit.enabled).toBe(true);
    expect(t.list()).toEqual(['smmu_tlb_hit', 'vtd_iotlb_hit', 'vtd_iotlb_miss']);
  });

  it('export Chrome trace JSON with one thread per track', () => {
    const t = new Tracer();
    t.enable();
    const exit = t.point('vm_exit', 'vmm');
    const start = exit.now();
    exit.complete(start, { reason: 'mmio', addr: 0xfed90000n }, 'vcpu0');
    t.point('ioctl', 'host').emit({ name: 'IOMMU_HWPT_INVALIDATE' });
    const json = t.toChromeTrace('test');
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    const events = json.traceEvents as Record<string, unknown>[];
    expect(events[0]).toMatchObject({ name: 'process_name', ph: 'M', args: { name: 'test' } });
    expect(events[1]).toMatchObject({ name: 'vm_exit', cat: 'vmm', ph: 'X', tid: 1, args: { reason: 'mmio', addr: '0xfed90000' } });
    expect(events[2]).toMatchObject({ name: 'ioctl', ph: 'i', tid: 2 });
    expect(events.filter((e) => e.name === 'thread_name').map((e) => (e.args as { name: string }).name)).toEqual(['vcpu0', 'host']);
  });

  it('drop events beyond the limit and count them', () => {
    const t = new Tracer();
    t.limit = 2;
    t.enable();
    const p = t.point('x');
    p.emit();
    p.emit();
    p.emit();
    expect(t.events.length).toBe(2);
    expect(t.dropped).toBe(1);
  });
});
