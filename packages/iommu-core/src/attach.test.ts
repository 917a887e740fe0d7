import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { ToyDomain, toyOps, toyUnit } from './__tests__/toy-driver.js';
import {
  iommuAttachDevicePasid,
  iommuAttachGroupHandle,
  iommuAttachHandleGet,
  iommuDetachDevicePasid,
  iommuDetachGroupHandle,
  iommuDeviceClaimDmaOwner,
  iommuDeviceReleaseDmaOwner,
  iommuReplaceDevicePasid,
  iommuReplaceGroupHandle,
} from './attach.js';
import { IOMMU_NO_PASID } from './domain.js';
import { iommuSubsystem } from './subsystem.js';

function setup() {
  const host = new Host({ memory: 16 * 2 ** 20 });
  const sub = iommuSubsystem(host);
  const ops = toyOps();
  const unit = toyUnit('toy0', ops);
  sub.addUnit(unit);
  const a = sub.probeDevice('dev-a', unit, { rid: 0x100 });
  const b = sub.probeDevice('dev-b', unit, { rid: 0x101, groupWith: a });
  const p = sub.probeDevice('dev-pasid', unit, { rid: 0x200 });
  return { sub, ops, unit, a, b, p };
}

describe('groups and DMA ownership', () => {
  it('probe puts devices in the blocked domain, shared groups share it', () => {
    const { ops, a, b, p } = setup();
    expect(a.group).toBe(b.group);
    expect(p.group).not.toBe(a.group);
    expect(a.group.domain).toBe(ops.blockedDomain);
    expect(p.maxPasids).toBe(1 << 20);
    expect(ops.blockedDomain.log).toEqual(['attach dev-a from none', 'attach dev-b from none', 'attach dev-pasid from none']);
  });

  it('claims ownership per owner and refuses another owner with EPERM', () => {
    const { a, b } = setup();
    const owner = {};
    iommuDeviceClaimDmaOwner(a, owner);
    iommuDeviceClaimDmaOwner(b, owner);
    expect(a.group.ownerCount).toBe(2);
    expect(() => iommuDeviceClaimDmaOwner(a, {})).toThrowError(expect.objectContaining({ code: 'EPERM' }));
    iommuDeviceReleaseDmaOwner(a);
    iommuDeviceReleaseDmaOwner(b);
    expect(a.group.owner).toBeNull();
  });

  it('attaches every device of a group or none, rolling back to the old domain', () => {
    const { ops, a } = setup();
    iommuDeviceClaimDmaOwner(a, 1);
    const d = new ToyDomain(ops, 'paging', 'd1');
    d.failAttach.add('dev-b');
    expect(() => iommuAttachGroupHandle(d, a.group, { domain: d })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(a.group.domain).toBe(ops.blockedDomain);
    expect(ops.blockedDomain.log.slice(-1)).toEqual(['attach dev-a from d1']);
    expect(a.group.pasids.size).toBe(0);
    d.failAttach.clear();
    iommuAttachGroupHandle(d, a.group, { domain: d });
    expect(a.group.domain).toBe(d);
    expect(() => iommuAttachGroupHandle(d, a.group, { domain: d })).toThrowError(expect.objectContaining({ code: 'EBUSY' }));
    const d2 = new ToyDomain(ops, 'paging', 'd2');
    iommuReplaceGroupHandle(a.group, d2, { domain: d2 });
    expect(d2.log).toEqual(['attach dev-a from d1', 'attach dev-b from d1']);
    expect(iommuAttachHandleGet(a.group, IOMMU_NO_PASID).domain).toBe(d2);
    iommuDetachGroupHandle(a.group);
    expect(a.group.domain).toBe(ops.blockedDomain);
    expect(() => iommuAttachHandleGet(a.group, IOMMU_NO_PASID)).toThrowError(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('refuses a domain of another driver with EINVAL', () => {
    const { p } = setup();
    const other = new ToyDomain(toyOps('other'), 'paging', 'foreign');
    expect(() => iommuAttachGroupHandle(other, p.group, { domain: other })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('PASID attachment', () => {
  it('follows iommu_attach_device_pasid: PASID 0, range, duplicates and missing hooks', () => {
    const { ops, p } = setup();
    const d = new ToyDomain(ops, 'paging', 'd');
    expect(() => iommuAttachDevicePasid(d, p, IOMMU_NO_PASID, { domain: d })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => iommuAttachDevicePasid(d, p, 1 << 20, { domain: d })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    iommuAttachDevicePasid(d, p, 7, { domain: d });
    expect(d.log).toEqual(['pasid dev-pasid:7 from none']);
    expect(() => iommuAttachDevicePasid(d, p, 7, { domain: d })).toThrowError(expect.objectContaining({ code: 'EBUSY' }));
    const noPasid = new ToyDomain(ops, 'paging', 'np', [4096], false);
    expect(() => iommuAttachDevicePasid(noPasid, p, 8, { domain: noPasid })).toThrowError(expect.objectContaining({ code: 'EOPNOTSUPP' }));
  });

  it('replaces only an existing attachment and rolls back to the old domain', () => {
    const { ops, p } = setup();
    const d1 = new ToyDomain(ops, 'paging', 'd1');
    const d2 = new ToyDomain(ops, 'paging', 'd2');
    expect(() => iommuReplaceDevicePasid(d2, p, 5, { domain: d2 })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    const h1 = { domain: d1 };
    iommuAttachDevicePasid(d1, p, 5, h1);
    d2.failAttach.add('dev-pasid');
    expect(() => iommuReplaceDevicePasid(d2, p, 5, { domain: d2 })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(iommuAttachHandleGet(p.group, 5)).toBe(h1);
    d2.failAttach.clear();
    iommuReplaceDevicePasid(d2, p, 5, { domain: d2 });
    expect(d2.log).toEqual(['pasid dev-pasid:5 from d1']);
    iommuDetachDevicePasid(d2, p, 5);
    expect(ops.blockedDomain.log.slice(-1)).toEqual(['pasid dev-pasid:5 from d2']);
    expect(p.group.pasids.has(5)).toBe(false);
  });
});
