import { describe, expect, it } from 'vitest';
import { vfioIommufdSetupSuite } from './vfio-iommufd-setup.js';
import { mockVfioTarget } from './vfio-target.js';

// tools/testing/selftests/vfio/vfio_iommufd_setup_test.c run against a PCI device behind the mock IOMMU.
describe('tools/testing/selftests/vfio/vfio_iommufd_setup_test.c (mock IOMMU)', () => {
  for (const c of vfioIommufdSetupSuite(mockVfioTarget).cases()) {
    it(c.fullName, () => {
      const o = c.run();
      expect(o.result, o.message).toBe('pass');
    });
  }
});
