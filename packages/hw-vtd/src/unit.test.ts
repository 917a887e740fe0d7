import { iommuDriver, iommuSubsystem, registerIommuDriver, unregisterIommuDriver } from '@iommu-lab/iommu-core';
import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { VtdCap, VtdEcap } from './format/cap.js';
import { intelVtdDriver, type VtdUnit } from './unit.js';

const host = () => new Host({ memory: 64 * 2 ** 20, devices: [{ bdf: '0000:00:04.0', iommu: 'dmar0', pasidBits: 20 }] });

describe('the intel-vtd driver factory', () => {
  it('registers as model intel-vtd and brings up a unit with a current server part by default', () => {
    registerIommuDriver(intelVtdDriver);
    try {
      const h = host();
      const unit = iommuDriver('intel-vtd').create(h, 'dmar0', {}) as VtdUnit;
      expect(unit.model).toBe('intel-vtd');
      const cap = VtdCap.decode([unit.hw.cap]);
      const ecap = VtdEcap.decode([unit.hw.ecap]);
      expect(cap).toMatchObject({ sagaw: 0b0110, mgaw: 47, fs1gp: true, fs5lp: false, sslps: 3, cm: false, psi: true, fro: 0x22, nd: 6 });
      expect(ecap).toMatchObject({ smts: true, fsts: true, ssts: true, nest: true, pasid: true, pss: 19, pt: true, sc: true, srs: true, ssads: true, qi: true, iro: 0xf });
      // Translation, queued invalidation and the root table pointer are on: GSTS TES | RTPS | QIES.
      expect(unit.hw.read32(0x1c) >>> 0).toBe(0xc400_0000);
      expect(unit.describe()).toMatchObject({ model: 'intel-vtd', mode: 'scalable', 'address width': '48-bit', PASID: '20 bits' });
      const devs = iommuSubsystem(h).bringUp(unit);
      expect(devs.map((d) => d.name)).toEqual(['0000:00:04.0']);
      expect(h.device('0000:00:04.0').translator).toBe(unit.hw);
    } finally {
      unregisterIommuDriver('intel-vtd');
    }
  });

  it('switches capabilities by option', () => {
    const u = intelVtdDriver.create(host(), 'dmar1', { addressWidth: 57, cachingMode: true, pasidBits: 8, fs1gp: false, sslps: 1, nesting: false, eafs: true }) as VtdUnit;
    expect(VtdCap.decode([u.hw.cap])).toMatchObject({ sagaw: 0b1110, mgaw: 56, fs5lp: true, cm: true, fs1gp: false, sslps: 1 });
    expect(VtdEcap.decode([u.hw.ecap])).toMatchObject({ pss: 7, nest: false, eafs: true });
  });

  it.each([
    [{ bogus: 1 }, /"bogus" is unknown/],
    [{ pasidBits: 21 }, /"pasidBits"/],
    [{ addressWidth: 52 }, /"addressWidth"/],
    [{ cachingMode: 'yes' }, /"cachingMode" must be true or false/],
    [{ sslps: 1.5 }, /"sslps" must be an integer/],
    [{ scalableMode: false }, /"scalableMode"/],
    [{ nesting: true, firstStage: false }, /"nesting"/],
    [{ haw: 25 }, /"haw"/],
  ])('rejects %j with a RangeError naming the option', (opts, re) => {
    expect(() => intelVtdDriver.create(host(), 'dmar0', opts)).toThrow(RangeError);
    expect(() => intelVtdDriver.create(host(), 'dmar0', opts)).toThrow(re);
  });
});
