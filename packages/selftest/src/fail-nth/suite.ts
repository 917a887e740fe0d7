// The suite iommufd_fail_nth.c's fixtures register on, in the kernel file's order.
import { Suite } from '../harness/harness.js';

export const failNthSuite = new Suite();
