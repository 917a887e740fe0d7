import { describe, expect, it } from 'vitest';
import { toyUnit } from './__tests__/toy-driver.js';
import { iommuDriver, iommuModels, registerIommuDriver, unregisterIommuDriver } from './registry.js';

describe('driver registry', () => {
  it('resolves registered models and lists the known ones for an unknown model', () => {
    const factory = { model: 'toy-iommu', description: 'test', create: () => toyUnit() };
    registerIommuDriver(factory);
    registerIommuDriver(factory);
    expect(iommuDriver('toy-iommu')).toBe(factory);
    expect(iommuModels()).toContain('toy-iommu');
    expect(() => iommuDriver('intel-vtdx')).toThrow(/unknown IOMMU model "intel-vtdx" \(known models: .*toy-iommu/);
    expect(() => registerIommuDriver({ ...factory })).toThrow(/already registered/);
    unregisterIommuDriver('toy-iommu');
    expect(iommuModels()).not.toContain('toy-iommu');
  });
});
