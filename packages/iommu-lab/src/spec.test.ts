import { describe, expect, it } from 'vitest';
import { DEFAULT_MACHINE, HostSpecError, parseHostSpec } from './spec.js';

const bad = (spec: unknown) => {
  try {
    parseHostSpec(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(HostSpecError);
    return (e as Error).message;
  }
  throw new Error('spec was accepted');
};

describe('host spec', () => {
  it('accepts the default machine and fills defaults', () => {
    const s = parseHostSpec(DEFAULT_MACHINE);
    expect(s.memory).toBe('4G');
    expect(s.iommus.map((u) => u.model)).toEqual(['intel-vtd', 'arm-smmuv3']);
    expect(s.kernel.iommufdTest).toBe(false);
    expect(parseHostSpec('{}')).toEqual({ memory: '4G', iommus: [], devices: [], kernel: { iommufdTest: false } });
  });

  it('names the bad field', () => {
    expect(bad({ memory: '4 gigs' })).toMatch(/^memory: must be a size/);
    expect(bad({ memory: '3K' })).toMatch(/^memory: /);
    expect(bad({ devices: [{ bdf: '0000:1:00.0' }] })).toMatch(/^devices\[0\]\.bdf: must be a PCI address/);
    expect(bad({ devices: [{ bdf: '0000:01:00.0', pasidBits: 21 }] })).toMatch(/^devices\[0\]\.pasidBits: /);
    expect(bad({ devices: [{ bdf: '0000:01:00.0', colour: 'red' }] })).toMatch(/^devices\[0\]: .*colour/);
    expect(bad({ iommus: [{ model: 'intel-vtd' }] })).toMatch(/^iommus\[0\]\.id: /);
    expect(bad({ iomus: [] })).toMatch(/iomus/);
    expect(bad('{ not json')).toMatch(/^host spec is not valid JSON/);
  });

  it('cross-checks references', () => {
    const u = [{ id: 'dmar0', model: 'intel-vtd' }];
    expect(bad({ iommus: [...u, ...u] })).toBe('iommus[1].id: "dmar0" is defined twice');
    expect(bad({ iommus: u, devices: [{ bdf: '0000:01:00.0', iommu: 'dmar1' }] })).toBe('devices[0].iommu: no IOMMU "dmar1" (defined: dmar0)');
    expect(bad({ devices: [{ bdf: '0000:01:00.0' }, { bdf: '0000:01:00.0' }] })).toBe('devices[1].bdf: 0000:01:00.0 is listed twice');
    expect(bad({ iommus: u, devices: [{ bdf: '0000:01:00.0', iommu: 'dmar0', group: '0000:02:00.0' }] })).toBe('devices[0].group: no device 0000:02:00.0');
    expect(bad({ iommus: u, devices: [{ bdf: '0000:01:00.0', iommu: 'dmar0', group: '0000:01:00.0' }] })).toBe(
      'devices[0].group: 0000:01:00.0 leads back to 0000:01:00.0 (a cycle)',
    );
    const pair = [
      { bdf: '0000:01:00.0', iommu: 'dmar0', group: '0000:02:00.0' },
      { bdf: '0000:02:00.0', iommu: 'dmar0', group: '0000:01:00.0' },
    ];
    expect(bad({ iommus: u, devices: pair })).toBe('devices[0].group: 0000:02:00.0 leads back to 0000:01:00.0 (a cycle)');
  });
});
