import { describe, expect, it } from 'vitest';
import { suite } from './suite/index.js';

// One vitest test per kernel case, named fixture.variant.test like the kselftest harness. A case the
// kernel test itself SKIPs (e.g. iommufd_viommu's no_viommu variant) is reported skipped, as kselftest does.
describe('tools/testing/selftests/iommu/iommufd.c', () => {
  for (const c of suite.cases()) {
    it(c.fullName, (ctx) => {
      const o = c.run();
      if (o.result === 'skip') ctx.skip(o.message);
      expect(o.result, o.message).toBe('pass');
    });
  }
});
