// mmap() of an iommufd: regions a vIOMMU exposes to user space (iommufd_viommu_alloc_mmap, main.c).
import { ErrnoError, MemObject, type MmapRequest, type MmapTarget, PAGE_SIZE } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import type { IommufdObject } from './object.js';

/** struct iommufd_mmap: frames an owner object lets user space map at a fixed offset. */
interface IommufdMmap {
  readonly owner: IommufdObject;
  readonly pfns: readonly number[];
  /** Page offset user space passes to mmap (vm_pgoff). */
  readonly pgoff: number;
}

const regions = new WeakMap<IommufdCtx, Map<number, IommufdMmap>>();

function table(ctx: IommufdCtx): Map<number, IommufdMmap> {
  let t = regions.get(ctx);
  if (!t) regions.set(ctx, (t = new Map()));
  return t;
}

/** iommufd_viommu_alloc_mmap: returns the byte offset to give mmap(). */
export function allocMmap(ctx: IommufdCtx, owner: IommufdObject, pfns: readonly number[]): bigint {
  const t = table(ctx);
  // Offsets come from an allocator over page indexes above the first page, like the kernel's maple tree.
  let pgoff = 1;
  for (;;) {
    const clash = [...t.values()].some((r) => pgoff < r.pgoff + r.pfns.length && r.pgoff < pgoff + pfns.length);
    if (!clash) break;
    pgoff++;
  }
  t.set(pgoff, { owner, pfns, pgoff });
  return BigInt(pgoff) * BigInt(PAGE_SIZE);
}

export function destroyMmap(ctx: IommufdCtx, offset: bigint): void {
  table(ctx).delete(Number(offset / BigInt(PAGE_SIZE)));
}

/** The context's mmap regions as [pgoff, owner ID, pages] (read-only inspection). */
export function ctxMmapRegions(ctx: IommufdCtx): [number, number, number][] {
  return [...(regions.get(ctx)?.values() ?? [])].map((r) => [r.pgoff, r.owner.id, r.pfns.length]);
}

/** iommufd_fops_mmap: exactly a registered region, shared, not executable; the owner stays busy while mapped. */
export function mmapRegion(ctx: IommufdCtx, req: MmapRequest): MmapTarget {
  if (req.length % PAGE_SIZE !== 0) throw new ErrnoError('EINVAL', 'mmap', 'length not page aligned');
  if (!req.shared) throw new ErrnoError('EINVAL', 'mmap', 'iommufd regions need MAP_SHARED');
  const pgoff = req.offset / PAGE_SIZE;
  const region = [...table(ctx).values()].find((r) => pgoff >= r.pgoff && pgoff < r.pgoff + r.pfns.length);
  if (!region || region.owner.users === 0) throw new ErrnoError('ENXIO', 'mmap', `no region at offset 0x${req.offset.toString(16)}`);
  if (pgoff !== region.pgoff || req.length !== region.pfns.length * PAGE_SIZE) {
    throw new ErrnoError('ENXIO', 'mmap', 'offset and length must match the region exactly');
  }
  const owner = region.owner;
  owner.get();
  const obj = MemObject.pfnmap(ctx.host.frames, ctx.host.mem, region.pfns);
  return {
    obj,
    pgoff: 0,
    ops: {
      open: () => owner.get(),
      close: () => owner.put(),
    },
  };
}
