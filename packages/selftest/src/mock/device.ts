// struct mock_dev: a device on the iommufd_mock bus, with the per-device state the selftest checks.
import type { IommuDevice, IommuDomain } from '@iommu-lab/iommu-core';
import { IOMMU_TEST_DEV_CACHE_DEFAULT, MOCK_DEV_CACHE_NUM } from '../uapi/iommufd-test.js';
import type { MockViommu } from './viommu.js';

export class MockDev {
  /** The device's cache entries that vIOMMU invalidations clear (IOMMU_TEST_OP_DEV_CHECK_CACHE). */
  readonly cache = new Uint32Array(MOCK_DEV_CACHE_NUM).fill(IOMMU_TEST_DEV_CACHE_DEFAULT);
  /** Armed by the first PASID 1024 attach so the next non-blocking set fails (rollback testing). */
  pasid1024FakeError = false;
  viommu: MockViommu | null = null;
  vdevId = 0n;
  iopfRefcount = 0;
  /** The domain the RID is attached to. */
  domain: IommuDomain | null = null;
  /** Domains attached to PASIDs. */
  readonly pasidDomains = new Map<number, IommuDomain>();
  dev: IommuDevice | null = null;

  constructor(
    readonly id: number,
    readonly flags: number,
  ) {}

  get name(): string {
    return `iommufd_mock${this.id}`;
  }
}

export function mockDevOf(dev: IommuDevice): MockDev {
  const m = dev.priv;
  if (!(m instanceof MockDev)) throw new Error(`${dev.name} is not a mock device`);
  return m;
}
