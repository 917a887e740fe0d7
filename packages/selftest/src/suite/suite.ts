// The suite every fixture file registers on, in tools/testing/selftests/iommu/iommufd.c order.
import { Suite } from '../harness/harness.js';

export const suite = new Suite();
