// The mock driver's domains: blocking, paging (2 KiB granule, optional dirty tracking) and nested.
import {
  type IommuDevice,
  type IommuDirtyOps,
  type IommuDomain,
  type IommuDomainGeometry,
  type IommuOps,
  type IommuUserDataArray,
  type IotlbGather,
  iommuCopyStructFromUserArray,
  type MapProgress,
} from '@iommu-lab/iommu-core';
import { ErrnoError, type FaultInjector } from '@iommu-lab/platform';
import {
  iommu_hwpt_invalidate_selftest,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_TEST_PASID_RESERVED,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  MOCK_HUGE_PAGE_SIZE,
  MOCK_IOMMUPT_HUGE,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX,
  MOCK_NESTED_DOMAIN_IOTLB_NUM,
} from '../uapi/iommufd-test.js';
import { mockDevOf } from './device.js';
import { MOCK_GRANULE, MockPageTable } from './pagetable.js';
import type { MockViommu } from './viommu.js';

/** Every power of two from the 2 KiB granule up to 128 GiB (the AMDv1 sizes of a 3-level mock table). */
const DEFAULT_PGSIZES = Array.from({ length: 37 - 11 + 1 }, (_, i) => 2 ** (11 + i));
/** The mock table spans 2^38 bytes (granule 2^11, three 9-bit levels). */
const VA_BITS = 38;

/** mock_domain_nop_attach: dirty-tracking domains need a dirty-capable device; nested ones a vDEVICE. */
function nopAttach(domain: IommuDomain, dev: IommuDevice): void {
  const mdev = mockDevOf(dev);
  if (domain.dirtyOps && mdev.flags & 1) throw new ErrnoError('EINVAL', 'ioctl', 'device cannot track dirty pages');
  let viommu: MockViommu | null = null;
  let vdevId = 0n;
  if (domain instanceof MockNestedDomain && domain.viommu) {
    viommu = domain.viommu;
    const id = viommu.core.virtIdOf(dev);
    if (id === null) throw new ErrnoError('ENOENT', 'ioctl', 'no vDEVICE for the device on this vIOMMU');
    vdevId = id;
  }
  if (viommu !== mdev.viommu) {
    mdev.viommu = viommu;
    mdev.vdevId = vdevId;
  }
  mdev.domain = domain;
}

/** mock_domain_set_dev_pasid_nop, with the deliberate ENOMEM on the second set of PASID 1024. */
function nopSetDevPasid(domain: IommuDomain, dev: IommuDevice, pasid: number): void {
  const mdev = mockDevOf(dev);
  if (pasid === IOMMU_TEST_PASID_RESERVED) {
    if (domain.type === 'blocked') {
      mdev.pasid1024FakeError = false;
    } else if (mdev.pasid1024FakeError) {
      mdev.pasid1024FakeError = false;
      throw new ErrnoError('ENOMEM', 'ioctl', 'mock: faked failure on PASID 1024');
    } else {
      mdev.pasid1024FakeError = true;
    }
  }
  if (domain.type === 'blocked') mdev.pasidDomains.delete(pasid);
  else mdev.pasidDomains.set(pasid, domain);
}

export class MockBlockingDomain implements IommuDomain {
  readonly type = 'blocked';
  readonly pgsizes: readonly number[] = [];
  readonly geometry: IommuDomainGeometry = { apertureStart: 0n, apertureEnd: 0n, forceAperture: true };
  constructor(readonly owner: IommuOps) {}
  attachDev(dev: IommuDevice): void {
    nopAttach(this, dev);
  }
  setDevPasid(dev: IommuDevice, pasid: number): void {
    nopSetDevPasid(this, dev, pasid);
  }
  free(): void {}
}

export class MockPagingDomain implements IommuDomain {
  readonly type = 'paging';
  readonly pgsizes: readonly number[];
  readonly geometry: IommuDomainGeometry;
  readonly table: MockPageTable;
  readonly dirtyOps?: IommuDirtyOps;
  /** MOCK_DIRTY_TRACK */
  dirtyTracking = false;
  iopfHandler?: IommuDomain['iopfHandler'];

  constructor(
    readonly owner: IommuOps,
    readonly pagetableType: number,
    dirty: boolean,
    faults?: FaultInjector,
  ) {
    this.table = new MockPageTable(faults);
    if (pagetableType === MOCK_IOMMUPT_HUGE) {
      this.pgsizes = [4096, MOCK_HUGE_PAGE_SIZE];
      this.geometry = { apertureStart: 0n, apertureEnd: (1n << BigInt(VA_BITS)) - 1n, forceAperture: true };
    } else {
      this.pgsizes = DEFAULT_PGSIZES;
      this.geometry = { apertureStart: BigInt(MOCK_APERTURE_START), apertureEnd: BigInt(MOCK_APERTURE_LAST), forceAperture: true };
    }
    if (dirty) {
      this.dirtyOps = {
        setDirtyTracking: (enabled) => {
          this.dirtyTracking = enabled;
        },
        readAndClearDirty: (iova, size, noClear, record) => this.table.readAndClearDirty(iova, size, noClear, record),
      };
    }
  }

  attachDev(dev: IommuDevice): void {
    nopAttach(this, dev);
  }

  setDevPasid(dev: IommuDevice, pasid: number): void {
    nopSetDevPasid(this, dev, pasid);
  }

  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number, progress: MapProgress): void {
    if (pgsize < MOCK_GRANULE || iova % pgsize || paddr % MOCK_GRANULE) throw new ErrnoError('EINVAL', 'iommu_map', `mock page of ${pgsize} at 0x${iova.toString(16)}`);
    for (let i = 0; i < pgcount; i++) {
      this.table.map(iova + i * pgsize, paddr + i * pgsize, pgsize, prot);
      progress.mapped += pgsize;
    }
  }

  unmapPages(iova: number, pgsize: number, pgcount: number, gather: IotlbGather): number {
    const end = iova + pgsize * pgcount;
    let cur = iova;
    while (cur < end) {
      const n = this.table.unmap(cur);
      if (n === 0) break;
      cur += n;
    }
    if (cur > iova) gather.add(iova, cur - iova, pgsize);
    return cur - iova;
  }

  iovaToPhys(iova: number): number {
    return this.table.iovaToPhys(iova);
  }

  free(): void {}
}

export class MockNestedDomain implements IommuDomain {
  readonly type = 'nested';
  readonly pgsizes: readonly number[] = [];
  readonly geometry: IommuDomainGeometry = { apertureStart: 0n, apertureEnd: 0n, forceAperture: true };
  readonly iotlb = new Uint32Array(MOCK_NESTED_DOMAIN_IOTLB_NUM);
  iopfHandler?: IommuDomain['iopfHandler'];

  constructor(
    readonly owner: IommuOps,
    iotlb: number,
    readonly parent: IommuDomain | undefined,
    readonly viommu: MockViommu | null,
  ) {
    this.iotlb.fill(iotlb);
  }

  attachDev(dev: IommuDevice): void {
    nopAttach(this, dev);
  }

  setDevPasid(dev: IommuDevice, pasid: number): void {
    nopSetDevPasid(this, dev, pasid);
  }

  /** mock_domain_cache_invalidate_user: entries in order; entry_num = entries handled. */
  cacheInvalidateUser(array: IommuUserDataArray): void {
    let processed = 0;
    try {
      if (array.type !== IOMMU_HWPT_INVALIDATE_DATA_SELFTEST) throw new ErrnoError('EINVAL', 'ioctl', `invalidate type 0x${array.type.toString(16)}`);
      for (let i = 0; i < array.entry_num; i++) {
        const inv = iommuCopyStructFromUserArray(iommu_hwpt_invalidate_selftest, array, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, i, 8);
        if (inv.flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `invalidate flags 0x${inv.flags.toString(16)}`);
        if (inv.iotlb_id > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX) throw new ErrnoError('EINVAL', 'ioctl', `iotlb_id ${inv.iotlb_id}`);
        if (inv.flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) this.iotlb.fill(0);
        else this.iotlb[inv.iotlb_id] = 0;
        processed++;
      }
    } finally {
      array.entry_num = processed;
    }
  }

  free(): void {}
}
