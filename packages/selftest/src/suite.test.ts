import { describe, expect, it } from 'vitest';
import { suite } from './suite/index.js';

// The cases Linux 7.3's iommufd.c itself SKIPs on the mock (iommufd.c:2929, 2964, 3081, 3244, 3303).
const NO_VIOMMU = 'Skipping test for variant no_viommu';
const KERNEL_SKIPS = new Map<string, string>(
  ['viommu_alloc_nested_iopf', 'viommu_alloc_with_data', 'vdevice_cache', 'hw_queue', 'vdevice_tombstone'].map((t) => [
    `iommufd_viommu.no_viommu.${t}`,
    NO_VIOMMU,
  ]),
);

// One vitest test per kernel case, named fixture.variant.test like the kselftest harness: every case passes,
// except those the kernel's own test skips, which must skip with the kernel's message.
describe('tools/testing/selftests/iommu/iommufd.c', () => {
  for (const c of suite.cases()) {
    const skip = KERNEL_SKIPS.get(c.fullName);
    it(skip ? `${c.fullName} reports the kernel's SKIP` : c.fullName, () => {
      const o = c.run();
      if (skip) expect([o.result, o.message]).toEqual(['skip', skip]);
      else expect(o.result, o.message).toBe('pass');
    });
  }

  it('names every case the kernel skips', () => {
    const names = new Set(suite.cases().map((c) => c.fullName));
    expect([...KERNEL_SKIPS.keys()].filter((n) => !names.has(n))).toEqual([]);
  });
});
