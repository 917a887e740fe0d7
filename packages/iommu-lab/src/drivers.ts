// The vendor drivers built into iommu-lab, registered with iommu-core before a host is created.
import { armSmmuV3Driver } from '@iommu-lab/hw-smmuv3';
import { intelVtdDriver } from '@iommu-lab/hw-vtd';
import { type IommuDriverFactory, registerIommuDriver } from '@iommu-lab/iommu-core';
import { iommufdMockDriver } from '@iommu-lab/selftest';

/** Every built-in vendor driver. */
export const builtinDrivers: readonly IommuDriverFactory[] = [intelVtdDriver, armSmmuV3Driver, iommufdMockDriver];

export function registerBuiltinDrivers(): void {
  for (const d of builtinDrivers) registerIommuDriver(d);
}
