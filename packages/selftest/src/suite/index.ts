// Every fixture, registered in the order of tools/testing/selftests/iommu/iommufd.c.
import './iommufd.js';

export { suite } from './suite.js';
