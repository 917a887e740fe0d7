// device_block_translation (kernel intel/iommu.c): tear down the RID's PASID entry and leave its domain.
import { cacheTagUnassignDomain } from './cache-tag.js';
import type { DeviceDomainInfo } from './device-info.js';
import { intelPasidTearDownEntry } from './pasid.js';

export function deviceBlockTranslation(info: DeviceDomainInfo): void {
  if (!info.domainAttached) return;
  const domain = info.domain;
  if (domain) cacheTagUnassignDomain(domain, info, 0);
  intelPasidTearDownEntry(info.iommu, info, 0, false);
  info.domainAttached = false;
  if (!domain) return;
  domain.devices.delete(info);
  domain.detachIommu(info.iommu);
  info.domain = null;
}
