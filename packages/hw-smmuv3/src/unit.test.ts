import { iommuDriver, iommuSubsystem, registerIommuDriver, unregisterIommuDriver } from '@iommu-lab/iommu-core';
import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { Idr0, Idr1, Idr3, Idr5 } from './format/idr.js';
import { armSmmuV3Driver, createArmSmmuV3, parseArmSmmuV3Options } from './unit.js';

const host = () => new Host({ memory: 64 * 2 ** 20, devices: [{ bdf: '0000:01:00.0', iommu: 'smmu0', pasidBits: 8 }] });

describe('the arm-smmuv3 model', () => {
  it('registers as "arm-smmuv3" and creates a unit whose devices DMA through it', () => {
    registerIommuDriver(armSmmuV3Driver);
    try {
      const h = host();
      const unit = iommuDriver('arm-smmuv3').create(h, 'smmu0', {});
      expect(unit.model).toBe('arm-smmuv3');
      expect(unit.ops.name).toBe('arm-smmu-v3');
      const [dev] = iommuSubsystem(h).bringUp(unit);
      expect(dev!.rid).toBe(0x100);
      expect(h.device('0000:01:00.0').translator).toBe(unit.hw);
      expect(unit.describe()).toMatchObject({ stages: 'S1+S2 (nesting)', OAS: '48 bits', SIDSIZE: '16', SSIDSIZE: '20', 'stream table': '2-level' });
    } finally {
      unregisterIommuDriver('arm-smmuv3');
    }
  });

  it('has the default IDRs: S1P, S2P, AArch64, ASID16, VMID16, 2-level tables, OAS 48, 4K, SIDSIZE 16, SSIDSIZE 20, RIL, ATS, PRI', () => {
    const u = createArmSmmuV3(host(), 'smmu0');
    expect(Idr0.decode(u.hw.idr[0]!)).toMatchObject({ s1p: 1, s2p: 1, ttf: 2, asid16: 1, vmid16: 1, cd2l: 1, stLevel: 1, ats: 1, pri: 1, httu: 0 });
    expect(Idr1.decode(u.hw.idr[1]!)).toMatchObject({ sidsize: 16, ssidsize: 20 });
    expect(Idr3.decode(u.hw.idr[3]!)).toMatchObject({ ril: 1 });
    expect(Idr5.decode(u.hw.idr[5]!)).toMatchObject({ oas: 5, gran4k: 1, gran16k: 0, gran64k: 0 });
  });

  it('switches IDR features by option', () => {
    const u = createArmSmmuV3(host(), 'smmu0', { s2p: false, oas: 44, sidSize: 8, ssidSize: 0, httu: 2, ril: false, stLevel2: false });
    expect(Idr0.decode(u.hw.idr[0]!)).toMatchObject({ s2p: 0, httu: 2 });
    expect(Idr5.decode(u.hw.idr[5]!).oas).toBe(4);
    expect(u.ops.smmu.features).toMatchObject({ nesting: false, twoLvlStrtab: false, rangeInv: false, sidBits: 8, hd: true });
    // 8-bit StreamIDs fit one linear table
    expect(u.describe()['stream table']).toBe('linear');
  });

  it('rejects a bad option with a RangeError naming it', () => {
    expect(() => createArmSmmuV3(host(), 'smmu0', { oas: 47 })).toThrow(/option oas/);
    expect(() => createArmSmmuV3(host(), 'smmu0', { sidSize: 33 })).toThrow(/option sidSize/);
    expect(() => createArmSmmuV3(host(), 'smmu0', { s1p: 'yes' })).toThrow(/option s1p: expected boolean/);
    expect(() => createArmSmmuV3(host(), 'smmu0', { stages: 2 })).toThrow(/option stages: unknown option/);
    expect(() => createArmSmmuV3(host(), 'smmu0', { s1p: false, s2p: false })).toThrow(/option s1p/);
    expect(() => createArmSmmuV3(host(), 'smmu0', { gran4k: false })).toThrow(/option gran4k/);
    expect(() => parseArmSmmuV3Options({ canwbs: 1 })).toThrow(/option canwbs/);
  });

  it('a driver that cannot use the hardware says why (no AArch64 walks)', () => {
    // TTF must include AArch64; the model refuses AArch32-only
    expect(() => createArmSmmuV3(host(), 'smmu0', { ttf: 1 })).toThrow(/option ttf/);
  });
});
