// Every fixture, registered in the order of tools/testing/selftests/iommu/iommufd.c.
import './iommufd.js';
import './change-process.js';
import './iommufd-ioas.js';
import './iommufd-ioas-2.js';
import './iommufd-mock-domain.js';
import './iommufd-dirty-tracking.js';
import './vfio-compat-mock-domain.js';
import './iommufd-viommu.js';
import './iommufd-device-pasid.js';

export { suite } from './suite.js';
