// The blocking and identity domains (kernel intel/iommu.c blocking_domain, identity_domain).
import type { IommuDevice, IommuDomain, IommuOps } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import { deviceBlockTranslation } from './block.js';
import { infoOf } from './device-info.js';
import { removeDevPasid } from './domain-base.js';
import { intelPasidSetupPassThrough, intelPasidTearDownEntry } from './pasid.js';

const NO_GEOMETRY = { apertureStart: 0n, apertureEnd: 0n, forceAperture: false };

/** DMA is blocked: the RID's or PASID's entry is cleared (with the flushes teardown does). */
export function blockingDomain(owner: IommuOps): IommuDomain {
  return {
    type: 'blocked',
    owner,
    pgsizes: [],
    geometry: NO_GEOMETRY,
    attachDev(dev: IommuDevice) {
      deviceBlockTranslation(infoOf(dev));
    },
    setDevPasid(dev: IommuDevice, pasid: number, old: IommuDomain | null) {
      const info = infoOf(dev);
      intelPasidTearDownEntry(info.iommu, info, pasid, false);
      removeDevPasid(old, info, pasid);
    },
    free() {},
  };
}

/** DMA addresses are physical: PGTT pass-through with FLPT_DEFAULT_DID. */
export function identityDomain(owner: IommuOps): IommuDomain {
  return {
    type: 'identity',
    owner,
    pgsizes: [],
    geometry: NO_GEOMETRY,
    attachDev(dev: IommuDevice) {
      const info = infoOf(dev);
      deviceBlockTranslation(info);
      intelPasidSetupPassThrough(info.iommu, info, 0);
      info.domainAttached = true;
    },
    setDevPasid(dev: IommuDevice, pasid: number, old: IommuDomain | null) {
      const info = infoOf(dev);
      if (!info.iommu.pasidSupported) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `${info.iommu.name}: no PASID support`);
      if (old) intelPasidTearDownEntry(info.iommu, info, pasid, false);
      intelPasidSetupPassThrough(info.iommu, info, pasid);
      removeDevPasid(old, info, pasid);
    },
    free() {},
  };
}
