import assert from 'node:assert/strict';
import {
  type IommuDevice,
  type IommuDomain,
  type IommuOps,
  type IommuUnit,
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachGroupHandle,
  iommuDeviceClaimDmaOwner,
  iommuMap,
  iommuSubsystem,
  iommuUnmap,
} from '@iommu-lab/iommu-core';
import { type DmaFaultInfo, DmaFault, Host, NO_PASID } from '@iommu-lab/platform';

// A toy vendor in a few lines: a paging domain is a map of 4 KiB IOVA pages to frames, and its
// "hardware" translates a device's requests through the domain its group is attached to.
class ToyDomain implements IommuDomain {
  readonly pages = new Map<number, number>();
  readonly pgsizes = [4096];
  readonly geometry = { apertureStart: 0n, apertureEnd: (1n << 48n) - 1n, forceAperture: true };
  constructor(readonly owner: IommuOps, readonly type: 'paging' | 'blocked') {}
  attachDev(): void {}
  mapPages(iova: number, pa: number, pgsize: number, n: number, _prot: number, progress: { mapped: number }): void {
    for (let i = 0; i < n; i++, progress.mapped += pgsize) this.pages.set(iova / 4096 + i, pa / 4096 + i);
  }
  unmapPages(iova: number, pgsize: number, n: number): number {
    for (let i = 0; i < n; i++) this.pages.delete(iova / 4096 + i);
    return n * pgsize;
  }
  free(): void {}
}
const ops: IommuOps = {
  name: 'toy',
  probeDevice: () => {},
  blockedDomain: undefined as unknown as IommuDomain,
  domainAllocUser: () => new ToyDomain(ops, 'paging'),
};
(ops as { blockedDomain: IommuDomain }).blockedDomain = new ToyDomain(ops, 'blocked');
const fault: DmaFaultInfo = { reason: 1, reasonName: 'toy: not mapped', address: 0n, pasid: NO_PASID, access: 0 };
const hw = {
  translate: (rid: number, _pasid: number, pfn: number) => {
    const d = iommuSubsystem(host).devices.find((x) => x.rid === rid)?.group.domain as ToyDomain;
    return d.pages.get(pfn) ?? -1;
  },
  lastFault: () => fault,
};
const unit: IommuUnit = { id: 'toy0', model: 'toy', ops, hw, describe: () => ({}) };

// The core probes the host's devices behind the unit; each joins a group in the blocked domain.
const host = new Host({ memory: 64 * 2 ** 20, devices: [{ bdf: '0000:01:00.0', iommu: 'toy0' }] });
const [dev] = iommuSubsystem(host).bringUp(unit) as [IommuDevice];
const pci = host.device('0000:01:00.0');
assert.throws(() => pci.dmaWrite(0x10_0000n, Uint8Array.of(1)), DmaFault);

// What iommufd does for a user: claim DMA ownership, allocate a paging domain, attach, map.
iommuDeviceClaimDmaOwner(dev, 'owner');
const domain = ops.domainAllocUser!(dev, 0, null, null);
iommuAttachGroupHandle(domain, dev.group, { domain });
const frame = host.frames.allocFrame();
iommuMap(domain, 0x10_0000, frame * 4096, 4096, IOMMU_READ | IOMMU_WRITE);
pci.dmaWrite(0x10_0010n, new TextEncoder().encode('via toy'));
assert.equal(new TextDecoder().decode(host.mem.read(frame * 4096 + 0x10, 7)), 'via toy');
assert.equal(iommuUnmap(domain, 0x10_0000, 4096), 4096);
assert.throws(() => pci.dmaRead(0x10_0000n, 1), DmaFault);
