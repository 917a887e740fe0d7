// Group and PASID attachment with rollback, and DMA ownership (drivers/iommu/iommu.c).
import { ErrnoError } from '@iommu-lab/platform';
import type { IommuDevice } from './device.js';
import { type IommuDomain, IOMMU_NO_PASID } from './domain.js';
import type { IommuAttachHandle, IommuGroup } from './group.js';
import { iopfDiscardPartial } from './iopf.js';

function compatible(domain: IommuDomain, dev: IommuDevice): boolean {
  return domain.owner === dev.unit.ops;
}

/** __iommu_group_set_domain: every device of the group moves to `domain`, or none does. */
function setGroupDomain(group: IommuGroup, domain: IommuDomain): void {
  if (group.domain === domain) return;
  const old = group.domain;
  const done: IommuDevice[] = [];
  try {
    for (const dev of group.devices) {
      domain.attachDev(dev, old);
      done.push(dev);
    }
  } catch (e) {
    for (const dev of done) old.attachDev(dev, domain);
    throw e;
  }
  group.domain = domain;
}

/** iommu_device_claim_dma_owner: a user (iommufd) takes the group; the group is blocked first. */
export function iommuDeviceClaimDmaOwner(dev: IommuDevice, owner: unknown): void {
  const g = dev.group;
  if (g.ownerCount > 0) {
    if (g.owner !== owner) throw new ErrnoError('EPERM', 'iommu', `${dev.name}: group owned by another user`);
    g.ownerCount++;
    return;
  }
  if (g.domain !== g.defaultDomain || g.pasids.size > 0) throw new ErrnoError('EBUSY', 'iommu', `${dev.name}: group in use`);
  setGroupDomain(g, g.blockingDomain);
  g.owner = owner;
  g.ownerCount = 1;
}

/** iommu_device_release_dma_owner */
export function iommuDeviceReleaseDmaOwner(dev: IommuDevice): void {
  const g = dev.group;
  if (g.ownerCount > 1) {
    g.ownerCount--;
    return;
  }
  g.ownerCount = 0;
  g.owner = null;
  setGroupDomain(g, g.defaultDomain);
}

/** The domain a detach returns the group to: blocking while owned by a user, else the default. */
function coreDomain(g: IommuGroup): IommuDomain {
  return g.ownerCount > 0 ? g.blockingDomain : g.defaultDomain;
}

/** iommu_attach_group_handle: attach the RID of every device; EBUSY if something is attached already. */
export function iommuAttachGroupHandle(domain: IommuDomain, group: IommuGroup, handle: IommuAttachHandle): void {
  if (group.pasids.has(IOMMU_NO_PASID)) throw new ErrnoError('EBUSY', 'iommu', 'group already attached');
  if (group.domain !== group.defaultDomain && group.domain !== group.blockingDomain) throw new ErrnoError('EBUSY', 'iommu', 'group already attached');
  for (const dev of group.devices) if (!compatible(domain, dev)) throw new ErrnoError('EINVAL', 'iommu', `domain of another IOMMU driver for ${dev.name}`);
  setGroupDomain(group, domain);
  handle.domain = domain;
  group.pasids.set(IOMMU_NO_PASID, handle);
}

/** iommu_replace_group_handle: switch the RID attachment to another domain in one step. */
export function iommuReplaceGroupHandle(group: IommuGroup, domain: IommuDomain, handle: IommuAttachHandle): void {
  for (const dev of group.devices) if (!compatible(domain, dev)) throw new ErrnoError('EINVAL', 'iommu', `domain of another IOMMU driver for ${dev.name}`);
  setGroupDomain(group, domain);
  handle.domain = domain;
  group.pasids.set(IOMMU_NO_PASID, handle);
}

/** iommu_detach_group_handle */
export function iommuDetachGroupHandle(group: IommuGroup): void {
  setGroupDomain(group, coreDomain(group));
  group.pasids.delete(IOMMU_NO_PASID);
  for (const dev of group.devices) iopfDiscardPartial(dev);
}

/** The handle attached at a PASID (IOMMU_NO_PASID for the RID), or ENOENT (iommu_attach_handle_get). */
export function iommuAttachHandleGet(group: IommuGroup, pasid: number): IommuAttachHandle {
  const h = group.pasids.get(pasid);
  if (!h) throw new ErrnoError('ENOENT', 'iommu', `nothing attached at PASID ${pasid}`);
  return h;
}

function pasidDevices(group: IommuGroup): IommuDevice[] {
  return group.devices.filter((d) => d.maxPasids > 0);
}

/** __iommu_set_group_pasid with its rollback: to `old`, or to blocked when there was none. */
function setGroupPasid(domain: IommuDomain, group: IommuGroup, pasid: number, old: IommuDomain | null): void {
  const done: IommuDevice[] = [];
  try {
    for (const dev of pasidDevices(group)) {
      domain.setDevPasid!(dev, pasid, old);
      done.push(dev);
    }
  } catch (e) {
    for (const dev of done) {
      if (old) old.setDevPasid!(dev, pasid, domain);
      else dev.unit.ops.blockedDomain.setDevPasid?.(dev, pasid, domain);
    }
    throw e;
  }
}

/** iommu_attach_device_pasid */
export function iommuAttachDevicePasid(domain: IommuDomain, dev: IommuDevice, pasid: number, handle: IommuAttachHandle): void {
  const group = dev.group;
  const blocked = dev.unit.ops.blockedDomain;
  if (!domain.setDevPasid || !blocked.setDevPasid) throw new ErrnoError('EOPNOTSUPP', 'iommu', 'domain cannot attach a PASID');
  if (!compatible(domain, dev) || pasid === IOMMU_NO_PASID) throw new ErrnoError('EINVAL', 'iommu', `bad PASID attach of ${pasid}`);
  for (const d of group.devices) {
    if (d.maxPasids > 0 && pasid >= d.maxPasids) throw new ErrnoError('EINVAL', 'iommu', `PASID ${pasid} beyond ${d.name}'s ${d.maxPasids} PASIDs`);
  }
  if (group.pasids.has(pasid)) throw new ErrnoError('EBUSY', 'iommu', `PASID ${pasid} already attached`);
  setGroupPasid(domain, group, pasid, null);
  handle.domain = domain;
  group.pasids.set(pasid, handle);
}

/** iommu_replace_device_pasid: EINVAL when nothing is attached at the PASID yet. */
export function iommuReplaceDevicePasid(domain: IommuDomain, dev: IommuDevice, pasid: number, handle: IommuAttachHandle): void {
  const group = dev.group;
  if (!domain.setDevPasid) throw new ErrnoError('EOPNOTSUPP', 'iommu', 'domain cannot attach a PASID');
  if (!compatible(domain, dev) || pasid === IOMMU_NO_PASID) throw new ErrnoError('EINVAL', 'iommu', `bad PASID replace of ${pasid}`);
  const cur = group.pasids.get(pasid);
  if (!cur) throw new ErrnoError('EINVAL', 'iommu', `nothing attached at PASID ${pasid}`);
  if (cur === handle) throw new ErrnoError('EINVAL', 'iommu', 'replacing a handle with itself');
  if (cur.domain !== domain) setGroupPasid(domain, group, pasid, cur.domain);
  handle.domain = domain;
  group.pasids.set(pasid, handle);
}

/** iommu_detach_device_pasid: the PASID goes back to blocked. */
export function iommuDetachDevicePasid(domain: IommuDomain, dev: IommuDevice, pasid: number): void {
  const group = dev.group;
  for (const d of pasidDevices(group)) d.unit.ops.blockedDomain.setDevPasid?.(d, pasid, domain);
  group.pasids.delete(pasid);
}
