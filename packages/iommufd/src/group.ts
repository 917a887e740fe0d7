// struct iommufd_group: per context and iommu_group, who is attached at each PASID (device.c).
import type { IommuGroup } from '@iommu-lab/iommu-core';
import type { IommufdCtx } from './context.js';
import type { IommufdDevice } from './device.js';
import type { IommufdHwpt } from './hw-pagetable.js';

/** struct iommufd_attach: the HWPT at one PASID of the group and the devices attached through it. */
export interface IommufdAttach {
  hwpt: IommufdHwpt;
  readonly devices: Map<number, IommufdDevice>;
}

export class IommufdGroup {
  refs = 1;
  readonly pasidAttach = new Map<number, IommufdAttach>();
  constructor(
    readonly ctx: IommufdCtx,
    readonly group: IommuGroup,
  ) {}
}

const groups = new WeakMap<IommufdCtx, Map<number, IommufdGroup>>();

/** iommufd_get_group: the context's igroup for a group, created on first use. */
export function getGroup(ctx: IommufdCtx, group: IommuGroup): IommufdGroup {
  let m = groups.get(ctx);
  if (!m) groups.set(ctx, (m = new Map()));
  const have = m.get(group.id);
  if (have) {
    have.refs++;
    return have;
  }
  ctx.faults.check('iommufd_alloc_group');
  const g = new IommufdGroup(ctx, group);
  m.set(group.id, g);
  return g;
}

export function putGroup(g: IommufdGroup): void {
  if (--g.refs > 0) return;
  groups.get(g.ctx)?.delete(g.group.id);
}

/** The context's igroups (read-only inspection). */
export function ctxGroups(ctx: IommufdCtx): readonly IommufdGroup[] {
  return [...(groups.get(ctx)?.values() ?? [])];
}
