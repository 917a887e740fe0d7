// The mock IOMMU driver (selftest.c's mock_ops) and its unit: what IOMMU_TEST_CMD devices sit behind.
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HWPT_DATA_NONE,
  type IommuDevice,
  type IommuDomain,
  type IommuDriverFactory,
  iommuCopyStructFromUser,
  type IommuOps,
  type IommuUnit,
  type IommuUserData,
  type IommuViommu,
  isViommu,
  iommuSubsystem,
  type ViommuCore,
} from '@iommu-lab/iommu-core';
import { type DmaFaultInfo, type DmaTranslator, ErrnoError, type Host, NO_PASID, PAGE_SIZE, DMA_WRITE } from '@iommu-lab/platform';
import {
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HWPT_DATA_SELFTEST,
  iommu_hwpt_selftest,
  iommu_test_hw_info,
  iommu_viommu_selftest,
  IOMMU_VIOMMU_TYPE_SELFTEST,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_FLAGS_DEVICE_PASID,
  MOCK_IOMMUPT_DEFAULT,
  MOCK_IOMMUPT_HUGE,
  MOCK_PASID_WIDTH,
} from '../uapi/iommufd-test.js';
import { MockDev, mockDevOf } from './device.js';
import { MockBlockingDomain, MockNestedDomain, MockPagingDomain } from './domain.js';
import { MockViommu } from './viommu.js';

const PAGING_FLAGS = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID;

function nestedData(userData: IommuUserData | null): number {
  if (!userData || userData.type !== IOMMU_HWPT_DATA_SELFTEST) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'nested data type is not IOMMU_HWPT_DATA_SELFTEST');
  return iommuCopyStructFromUser(iommu_hwpt_selftest, userData, IOMMU_HWPT_DATA_SELFTEST, 4).iotlb;
}

export class MockIommuOps implements IommuOps {
  readonly name = 'iommufd-mock';
  readonly userPasidTable = true;
  readonly blockedDomain: MockBlockingDomain;
  unit!: IommuUnit;
  /** mock_dev_ida: the iommufd_mock%u numbers in use. */
  private readonly ids = new Set<number>();

  constructor(readonly host: Host) {
    this.blockedDomain = new MockBlockingDomain(this);
  }

  /** ida_alloc(&mock_dev_ida): the lowest free iommufd_mock%u number. */
  allocDevId(): number {
    let id = 0;
    while (this.ids.has(id)) id++;
    this.ids.add(id);
    return id;
  }

  /** ida_free in mock_dev_release. */
  freeDevId(id: number): void {
    this.ids.delete(id);
  }

  /** The numbers in use, lowest first (read-only inspection). */
  devIds(): number[] {
    return [...this.ids].sort((a, b) => a - b);
  }

  probeDevice(dev: IommuDevice): void {
    if (!(dev.priv instanceof MockDev)) dev.priv = new MockDev(this.allocDevId(), dev.pci?.pasidBits ? MOCK_FLAGS_DEVICE_PASID : 0);
    const mdev = mockDevOf(dev);
    mdev.dev = dev;
    const bits = mdev.flags & MOCK_FLAGS_DEVICE_PASID ? Math.min(MOCK_PASID_WIDTH, dev.pci?.pasidBits || MOCK_PASID_WIDTH) : 0;
    dev.maxPasids = bits ? 2 ** bits : 0;
  }

  capable(dev: IommuDevice, cap: string): boolean {
    if (cap === 'CACHE_COHERENCY') return true;
    if (cap === 'DIRTY_TRACKING') return !(mockDevOf(dev).flags & MOCK_FLAGS_DEVICE_NO_DIRTY);
    return false;
  }

  hwInfo(_dev: IommuDevice, type: number) {
    if (type !== IOMMU_HW_INFO_TYPE_DEFAULT && type !== IOMMU_HW_INFO_TYPE_SELFTEST) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `hw_info type 0x${type.toString(16)}`);
    this.host.faults.check('mock_domain_hw_info');
    return { type: IOMMU_HW_INFO_TYPE_SELFTEST, data: iommu_test_hw_info.encode({ flags: 0, test_reg: IOMMU_HW_INFO_SELFTEST_REGVAL }) };
  }

  domainAllocUser(dev: IommuDevice, flags: number, parent: IommuDomain | IommuViommu | null, userData: IommuUserData | null): IommuDomain {
    if (parent && isViommu(parent)) {
      if (flags & ~IOMMU_HWPT_ALLOC_PASID) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `flags 0x${flags.toString(16)}`);
      const iotlb = nestedData(userData);
      this.host.faults.check('__mock_domain_alloc_nested');
      return new MockNestedDomain(this, iotlb, (parent as MockViommu).parent, parent as MockViommu);
    }
    if (parent) {
      if (flags & ~IOMMU_HWPT_ALLOC_PASID) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `flags 0x${flags.toString(16)}`);
      if (!(parent instanceof MockPagingDomain)) throw new ErrnoError('EINVAL', 'ioctl', 'parent is not a mock paging domain');
      const iotlb = nestedData(userData);
      this.host.faults.check('__mock_domain_alloc_nested');
      return new MockNestedDomain(this, iotlb, parent, null);
    }
    const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
    if (flags & ~PAGING_FLAGS || (dirty && mockDevOf(dev).flags & MOCK_FLAGS_DEVICE_NO_DIRTY)) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `flags 0x${flags.toString(16)}`);
    if (userData && userData.type !== IOMMU_HWPT_DATA_SELFTEST && userData.type !== IOMMU_HWPT_DATA_NONE) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `data type 0x${userData.type.toString(16)}`);
    let type = MOCK_IOMMUPT_DEFAULT;
    if (userData) type = iommuCopyStructFromUser(iommu_hwpt_selftest, userData, IOMMU_HWPT_DATA_SELFTEST, 4).pagetable_type;
    // mock_domain_alloc_pgtable allocates the mock domain before it looks at the page-table type.
    this.host.faults.check('mock_domain_alloc_pgtable');
    if (type !== MOCK_IOMMUPT_DEFAULT && type !== MOCK_IOMMUPT_HUGE) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `pagetable_type ${type}`);
    return new MockPagingDomain(this, type, dirty, this.host.faults);
  }

  viommuSupported(_dev: IommuDevice, type: number): boolean {
    return type === IOMMU_VIOMMU_TYPE_SELFTEST;
  }

  viommuAlloc(_dev: IommuDevice, parent: IommuDomain, type: number, userData: IommuUserData | null, core: ViommuCore): IommuViommu {
    if (type !== IOMMU_VIOMMU_TYPE_SELFTEST) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `vIOMMU type 0x${type.toString(16)}`);
    const v = new MockViommu(this.unit, parent, core, this.host.frames);
    if (userData) {
      const data = iommuCopyStructFromUser(iommu_viommu_selftest, userData, IOMMU_VIOMMU_TYPE_SELFTEST, 8);
      v.pagePfn = this.host.frames.alloc(1);
      try {
        v.mmapOffset = core.allocMmap([v.pagePfn, v.pagePfn + 1]);
      } catch (e) {
        v.destroy();
        throw e;
      }
      this.host.mem.setU32(v.pagePfn * PAGE_SIZE, data.in_data);
      v.outData = iommu_viommu_selftest.encode({ in_data: data.in_data, out_data: data.in_data, out_mmap_offset: v.mmapOffset, out_mmap_length: BigInt(2 * PAGE_SIZE) });
    }
    return v;
  }

  pageResponse(): void {}
}

/** The mock's "hardware": a device's DMA translates through the mock page table of what it is attached to. */
export class MockTranslator implements DmaTranslator {
  private fault: DmaFaultInfo = { reason: 0, reasonName: '', address: 0n, pasid: NO_PASID, access: 0 };
  constructor(private readonly deviceOf: (rid: number) => IommuDevice | undefined) {}

  translate(rid: number, pasid: number, iovaPfn: number, access: number): number {
    const dev = this.deviceOf(rid);
    const mdev = dev ? mockDevOf(dev) : null;
    let domain: IommuDomain | null | undefined = mdev ? (pasid === NO_PASID ? mdev.domain : mdev.pasidDomains.get(pasid)) : null;
    if (domain instanceof MockNestedDomain) domain = domain.parent;
    if (domain?.type === 'identity') return iovaPfn;
    if (domain instanceof MockPagingDomain) {
      const iova = iovaPfn * PAGE_SIZE;
      const pte = domain.table.lookup(iova);
      if (pte && pte.prot & (access & DMA_WRITE ? 2 : 1)) {
        if (access & DMA_WRITE && domain.dirtyTracking) domain.table.setDirty(iova);
        return Math.floor((pte.pa + iova - pte.iova) / PAGE_SIZE);
      }
    }
    this.fault = { reason: 1, reasonName: 'mock: no translation', address: BigInt(iovaPfn) << 12n, pasid, access };
    return -1;
  }

  lastFault(): DmaFaultInfo {
    return this.fault;
  }
}

/** Builds a mock IOMMU unit for a host; its devices are the ones probed behind it. */
export function createMockUnit(host: Host, id: string): IommuUnit {
  const ops = new MockIommuOps(host);
  const deviceOf = (rid: number) => iommuSubsystem(host).devices.find((d) => d.unit === unit && d.rid === rid);
  const unit: IommuUnit = { id, model: 'iommufd-mock', ops, hw: new MockTranslator(deviceOf), describe: () => ({ page: '2 KiB granule', pasid: `${MOCK_PASID_WIDTH} bits` }) };
  ops.unit = unit;
  return unit;
}

/** "model": "iommufd-mock" in a host spec: the selftest's mock IOMMU in front of PCI devices. */
export const iommufdMockDriver: IommuDriverFactory = {
  model: 'iommufd-mock',
  description: 'the iommufd selftest mock IOMMU (2 KiB pages, dirty tracking, mock vIOMMU)',
  create(host, id, options) {
    for (const k of Object.keys(options)) throw new RangeError(`${k}: the mock IOMMU has no options`);
    return createMockUnit(host, id);
  },
};
