import { describe, expect, it } from 'vitest';
import { failNthRuns, failNthSuite } from './index.js';

// One vitest test per TEST_FAIL_NTH, named fixture.test like the kselftest harness. Each sweeps every
// injection site after fail_nth_enable(), checking that a failed call changed nothing and that every
// teardown returned the host to where it started.
describe('tools/testing/selftests/iommu/iommufd_fail_nth.c', () => {
  for (const c of failNthSuite.cases()) {
    it(c.fullName, () => {
      const o = c.run();
      expect(o.result, o.message).toBe('pass');
      // The uninjected pass crossed N sites after fail_nth_enable(): failing each of them once, then a
      // pass with nothing left to fail, is N + 1 iterations.
      const run = failNthRuns.get(c.fullName)!;
      expect(run.sitesAfterEnable).toBeGreaterThan(0);
      expect(run.iterations).toBe(run.sitesAfterEnable + 1);
    });
  }
});
