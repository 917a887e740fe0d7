// The vendor drivers built into iommu-lab, registered with iommu-core before a host is created.
import { type IommuDriverFactory, registerIommuDriver } from '@iommu-lab/iommu-core';

/** Every built-in vendor driver. */
export const builtinDrivers: readonly IommuDriverFactory[] = [];

export function registerBuiltinDrivers(): void {
  for (const d of builtinDrivers) registerIommuDriver(d);
}
