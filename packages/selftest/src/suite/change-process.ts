// Being ported from tools/testing/selftests/iommu/iommufd.c.
