// CONFIG_IOMMUFD_TEST for a host: the mock IOMMU unit and IOMMU_TEST_CMD (iommufd_test_init).
import { type IommuUnit, iommuSubsystem } from '@iommu-lab/iommu-core';
import { ioctlOp, iommufdSubsystem } from '@iommu-lab/iommufd';
import type { Host } from '@iommu-lab/platform';
import { createMockUnit } from './mock/ops.js';
import { decodeTestCmd, iommufdTest } from './test-cmd/test-cmd.js';
import { IOMMU_TEST_CMD, iommu_test_cmd } from './uapi/iommufd-test.js';

const KEY = Symbol('iommufd-selftest');

/** Registers the mock IOMMU ("iommufd_selftest_iommu") and IOMMU_TEST_CMD on a host; idempotent. */
export function installSelftest(host: Host): IommuUnit {
  const have = host.ext.get(KEY) as IommuUnit | undefined;
  if (have) return have;
  const unit = createMockUnit(host, 'iommufd_selftest_iommu');
  iommuSubsystem(host).addUnit(unit);
  iommufdSubsystem(host).add(ioctlOp(IOMMU_TEST_CMD, iommu_test_cmd, 'last', iommufdTest(unit), decodeTestCmd));
  host.ext.set(KEY, unit);
  return unit;
}
