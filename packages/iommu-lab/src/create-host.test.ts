import { type IommuDriverFactory, type IommuOps, registerIommuDriver, unregisterIommuDriver } from '@iommu-lab/iommu-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createHost } from './create-host.js';
import { formatHostInfo, hostInfo } from './info.js';

// A vendor double: the real vendors have their own tests; this one checks createHost's wiring.
const seen: string[] = [];
const blocked = { type: 'blocked', pgsizes: [], geometry: { apertureStart: 0n, apertureEnd: 0n, forceAperture: true }, attachDev() {}, free() {} };
const ops: IommuOps = { name: 'wiring', probeDevice: (d) => void seen.push(d.name), blockedDomain: { ...blocked, owner: undefined! } as never };
(ops.blockedDomain as { owner: IommuOps }).owner = ops;
const factory: IommuDriverFactory = {
  model: 'wiring-test',
  description: 'test double',
  create(_host, id, options) {
    if (options.aw !== undefined && options.aw !== 48) throw new RangeError(`aw: ${String(options.aw)} is not supported (48)`);
    return { id, model: 'wiring-test', ops, hw: { translate: () => -1, lastFault: () => ({ reason: 0, reasonName: '', address: 0n, pasid: -1, access: 0 }) }, describe: () => ({ aw: '48' }) };
  },
};
registerIommuDriver(factory);
afterAll(() => unregisterIommuDriver('wiring-test'));

describe('createHost', () => {
  it('builds units from the registry and probes the devices behind them, shared groups first', () => {
    seen.length = 0;
    const host = createHost({
      memory: '1G',
      iommus: [{ id: 'u0', model: 'wiring-test', aw: 48 }],
      devices: [
        { bdf: '0000:05:00.1', iommu: 'u0', group: '0000:05:00.0' },
        { bdf: '0000:05:00.0', iommu: 'u0', pasidBits: 16 },
        { bdf: '0000:06:00.0' },
      ],
    });
    expect(host.mem.size).toBe(2 ** 30);
    expect(seen).toEqual(['0000:05:00.0', '0000:05:00.1']);
    const a = host.iommu.device('0000:05:00.0');
    expect(host.iommu.device('0000:05:00.1').group).toBe(a.group);
    expect(host.device('0000:05:00.0').translator).toBe(host.iommu.unit('u0').hw);
    expect(host.device('0000:06:00.0').translator).toBeNull();
    const info = hostInfo(host);
    expect(info.iommus).toEqual([{ id: 'u0', model: 'wiring-test', devices: ['0000:05:00.0', '0000:05:00.1'], facts: { aw: '48' } }]);
    expect(formatHostInfo(info)).toContain('0000:05:00.0  rid 0x0500  iommu u0  group 0  pasid 16 bits');
    expect(formatHostInfo(info)).toContain('0000:06:00.0  rid 0x0600  iommu (none)  group -  no pasid');
  });

  it('reports unknown models and bad vendor options with the field', () => {
    expect(() => createHost({ iommus: [{ id: 'x', model: 'nope' }] })).toThrow(/^iommus\[0\]\.model: unknown IOMMU model "nope" \(known models: .*wiring-test/);
    expect(() => createHost({ iommus: [{ id: 'x', model: 'wiring-test', aw: 39 }] })).toThrow('iommus[0]: aw: 39 is not supported (48)');
  });
});
