// tools/testing/selftests/iommu/iommufd_fail_nth.c: every fixture registered in the kernel file's order.
import './basic-fail-nth.js';
import './basic-fail-nth-2.js';

export { failNthSuite } from './suite.js';
export { failNthRuns } from './fail-nth.js';
