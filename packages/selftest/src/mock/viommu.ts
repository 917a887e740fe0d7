// The mock vIOMMU: a loopback data struct, a two-page mmap region, device cache invalidation, HW queues.
import {
  type IommuDevice,
  type IommuDomain,
  type IommuHwQueue,
  type IommuUnit,
  type IommuUserDataArray,
  type IommuViommu,
  iommuCopyStructFromFullUserArray,
  iommuIovaToPhys,
  type ViommuCore,
} from '@iommu-lab/iommu-core';
import { ErrnoError, type FrameAllocator } from '@iommu-lab/platform';
import {
  IOMMU_HW_QUEUE_TYPE_SELFTEST,
  IOMMU_TEST_HW_QUEUE_MAX,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  iommu_viommu_invalidate_selftest,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
  IOMMU_VIOMMU_TYPE_SELFTEST,
  MOCK_DEV_CACHE_ID_MAX,
} from '../uapi/iommufd-test.js';
import { mockDevOf } from './device.js';

class MockHwQueue implements IommuHwQueue {
  constructor(
    readonly viommu: MockViommu,
    readonly index: number,
    readonly dependsOn: MockHwQueue | null,
  ) {}
  destroy(): void {
    this.viommu.hwQueues[this.index] = null;
  }
}

export class MockViommu implements IommuViommu {
  readonly type = IOMMU_VIOMMU_TYPE_SELFTEST;
  readonly hwQueues: (MockHwQueue | null)[] = new Array(IOMMU_TEST_HW_QUEUE_MAX).fill(null);
  /** The two zeroed pages user space can mmap; the first u32 holds in_data. */
  pagePfn = 0;
  mmapOffset = 0n;
  outData?: Uint8Array;

  constructor(
    readonly unit: IommuUnit,
    readonly parent: IommuDomain,
    readonly core: ViommuCore,
    private readonly frames: FrameAllocator,
  ) {}

  /** mock_viommu_cache_invalidate: clears device cache entries named by vDEVICE ID. */
  cacheInvalidate(array: IommuUserDataArray): void {
    if (array.entry_num === 0 && array.type === IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST) return;
    let done = 0;
    try {
      const cmds = iommuCopyStructFromFullUserArray(iommu_viommu_invalidate_selftest, array, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST);
      for (const cur of cmds) {
        if (cur.flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `flags 0x${cur.flags.toString(16)}`);
        if (cur.cache_id > MOCK_DEV_CACHE_ID_MAX) throw new ErrnoError('EINVAL', 'ioctl', `cache_id ${cur.cache_id}`);
        const dev: IommuDevice | null = this.core.findDevice(BigInt(cur.vdev_id));
        if (!dev) throw new ErrnoError('EINVAL', 'ioctl', `no vDEVICE ${cur.vdev_id}`);
        const mdev = mockDevOf(dev);
        if (cur.flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) mdev.cache.fill(0);
        else mdev.cache[cur.cache_id] = 0;
        done++;
      }
    } finally {
      array.entry_num = done;
    }
  }

  hwQueueMax(type: number): number {
    return type === IOMMU_HW_QUEUE_TYPE_SELFTEST ? IOMMU_TEST_HW_QUEUE_MAX : 0;
  }

  /** mock_hw_queue_init_phys: indexes in order, each depending on the one before it. */
  hwQueueAlloc(_type: number, index: number, iova: bigint, pa: number): IommuHwQueue {
    if (index >= IOMMU_TEST_HW_QUEUE_MAX) throw new ErrnoError('EINVAL', 'ioctl', `queue index ${index}`);
    if (this.hwQueues[index]) throw new ErrnoError('EEXIST', 'ioctl', `queue ${index} exists`);
    const prev = index ? this.hwQueues[index - 1]! : null;
    if (index && !prev) throw new ErrnoError('EIO', 'ioctl', `queue ${index - 1} must exist first`);
    if (pa !== iommuIovaToPhys(this.parent, Number(iova))) throw new ErrnoError('EFAULT', 'ioctl', 'physical address of the queue does not match the nest parent');
    const q = new MockHwQueue(this, index, prev);
    this.hwQueues[index] = q;
    return q;
  }

  destroy(): void {
    if (this.mmapOffset) this.core.destroyMmap(this.mmapOffset);
    if (this.pagePfn) {
      this.frames.put(this.pagePfn);
      this.frames.put(this.pagePfn + 1);
    }
  }
}
