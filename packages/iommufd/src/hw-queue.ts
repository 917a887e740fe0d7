// IOMMU_HW_QUEUE_ALLOC: a guest queue the hardware reads by physical address, pinned and locked (viommu.c).
import { type IommuHwQueue, type iommu_hw_queue_alloc, IOMMU_HW_QUEUE_TYPE_DEFAULT } from '@iommu-lab/iommu-core';
import { ErrnoError, PAGE_SIZE, type StructType } from '@iommu-lab/platform';
import { accessCreateInternal, type IommufdAccess } from './access.js';
import type { IommufdCtx } from './context.js';
import { alignUp, ULONG_MAX } from './iopt/ranges.js';
import { IommufdObject } from './object.js';
import type { Ucmd } from './ucmd.js';
import { getViommu, type IommufdViommu } from './viommu.js';

const PAGE = BigInt(PAGE_SIZE);

export class IommufdHwQueue extends IommufdObject {
  readonly type = 'HW_QUEUE';
  queue: IommuHwQueue | null = null;
  access: IommufdAccess | null = null;
  viommu: IommufdViommu | null = null;
  /** The queue object this one took a dependency on (iommufd_hw_queue_depend). */
  dependsOn: IommufdHwQueue | null = null;

  constructor(
    readonly ctx: IommufdCtx,
    readonly baseAddr: bigint,
    readonly length: bigint,
  ) {
    super();
  }

  destroy(): void {
    this.queue?.destroy?.();
    this.dependsOn?.put();
    if (this.access) {
      const aligned = this.baseAddr & ~(PAGE - 1n);
      this.access.unpinPages(aligned, alignUp(this.length + this.baseAddr - aligned, PAGE));
      this.access.detach();
      this.ctx.destroyUser(this.access);
    }
    this.viommu?.put();
  }
}

/** iommufd_hw_queue_alloc_phys: pins the queue through an internal access; its frames must be contiguous. */
function allocPhys(ctx: IommufdCtx, viommu: IommufdViommu, iova: bigint, length: bigint): { access: IommufdAccess; pa: number } {
  const aligned = iova & ~(PAGE - 1n);
  const offset = iova - aligned;
  const span = alignUp(offset + length, PAGE);
  if (span > ULONG_MAX) throw new ErrnoError('ERANGE', 'ioctl', 'queue length overflows');
  // The struct page array; above a page kvzalloc falls back to vmalloc, which fail-nth cannot fail.
  if (span / PAGE <= BigInt(PAGE_SIZE / 8)) ctx.faults.check('iommufd_hw_queue_alloc_phys');
  const access = accessCreateInternal(ctx);
  try {
    access.changeIoas(viommu.hwpt.ioas);
    const pfns = access.pinPages(aligned, span, 0);
    for (let i = 1; i < pfns.length; i++) {
      if (pfns[i] !== pfns[i - 1]! + 1) {
        access.unpinPages(aligned, span);
        throw new ErrnoError('EFAULT', 'ioctl', 'queue memory is not physically contiguous');
      }
    }
    return { access, pa: pfns[0]! * PAGE_SIZE + Number(offset) };
  } catch (e) {
    access.detach();
    ctx.destroyUser(access);
    throw e;
  }
}

export function ioctlHwQueueAlloc(ucmd: Ucmd<StructType<typeof iommu_hw_queue_alloc>>): void {
  const cmd = ucmd.cmd;
  const ctx = ucmd.ctx;
  if (cmd.flags || cmd.type === IOMMU_HW_QUEUE_TYPE_DEFAULT) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags or the default queue type');
  if (!cmd.length) throw new ErrnoError('EINVAL', 'ioctl', 'length is 0');
  if (cmd.nesting_parent_iova + cmd.length - 1n > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'nesting_parent_iova + length overflows');
  const viommu = getViommu(ctx, cmd.viommu_id);
  const v = viommu.viommu;
  if (!v.hwQueueAlloc || !v.hwQueueMax?.(cmd.type)) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `vIOMMU has no queues of type ${cmd.type}`);
  const q = new IommufdHwQueue(ctx, cmd.nesting_parent_iova, cmd.length);
  ctx.allocId(q);
  ucmd.newObj = q;
  const { access, pa } = allocPhys(ctx, viommu, cmd.nesting_parent_iova, cmd.length);
  q.viommu = viommu;
  viommu.get();
  q.access = access;
  const queue = v.hwQueueAlloc(cmd.type, cmd.index, cmd.nesting_parent_iova, pa, Number(cmd.length));
  q.queue = queue;
  if (queue.dependsOn) {
    const dep = ctx.list('HW_QUEUE').find((o) => (o as IommufdHwQueue).queue === queue.dependsOn) as IommufdHwQueue | undefined;
    if (!dep || dep === q) throw new Error('hw queue depends on a queue iommufd does not know');
    dep.get();
    q.dependsOn = dep;
  }
  cmd.out_hw_queue_id = q.id;
  ucmd.respond();
}
