import { describe, expect, it } from 'vitest';
import { suite } from './suite/index.js';

// One vitest test per kernel case, named fixture.variant.test like the kselftest harness.
describe('tools/testing/selftests/iommu/iommufd.c', () => {
  for (const c of suite.cases()) {
    it(c.fullName, () => {
      const o = c.run();
      expect(o.result, o.message).toBe('pass');
    });
  }
});
