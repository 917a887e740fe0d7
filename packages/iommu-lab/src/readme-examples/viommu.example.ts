import assert from 'node:assert/strict';
import { intelVtdDriver } from '@iommu-lab/hw-vtd';
import { iommuSubsystem } from '@iommu-lab/iommu-core';
import { installIommufd } from '@iommu-lab/iommufd';
import { Host } from '@iommu-lab/platform';
import { installVfio } from '@iommu-lab/vfio';
import { bootGuest, cloneStats, statsDelta, Vm } from '@iommu-lab/viommu';

// The host (what iommu-lab's createHost builds): a DSA-like device behind a VT-d unit, iommufd and VFIO.
const host = new Host({ memory: 4 * 2 ** 30, devices: [{ bdf: '0000:01:00.0', iommu: 'dmar0', pasidBits: 20 }] });
iommuSubsystem(host).bringUp(intelVtdDriver.create(host, 'dmar0', {}));
installIommufd(host);
installVfio(host);

// QEMU's command line, nested mode: the guest's first stage is bound to the host as a nested HWPT.
const vm = new Vm(
  host,
  '-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on,aw-bits=48,fs1gp=on ' +
    '-object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0',
);
const g = bootGuest(vm, { flush: 'strict' });

// The guest maps a buffer for its device: a first-stage PTE in guest RAM, no VM exit, no host ioctl.
const buf = g.alloc(4096);
const dma = g.dma();
let before = cloneStats(vm.stats);
const iova = dma.map(buf, 4096, 'from-device');
assert.deepEqual(statsDelta(vm.stats, before).vmExits, {});

// The device fills it through the host IOMMU's nested walk; the guest checks every byte.
assert.equal(g.memfill(undefined, iova, 4096, 0x1122_3344_5566_7788n), true);
assert.equal(vm.stats.dataErrors, 0);

// The unmap costs one exit (the IQT write of a PASID-based IOTLB invalidation) and one HWPT_INVALIDATE.
before = cloneStats(vm.stats);
dma.unmap(iova, 4096);
const d = statsDelta(vm.stats, before);
assert.deepEqual(d.vmExits, { 'mmio-write:intel-iommu:IQT_REG': 1 });
assert.deepEqual(d.hostIoctls, { IOMMU_HWPT_INVALIDATE: 1 });

// After the unmap the device is refused: the DMA faults, nothing is written, the guest sees its own IOVA,
// in the device's completion record and (iommu-lab fault extension) in the vIOMMU's fault recording register.
assert.equal(g.memfill(undefined, iova, 64, 0n), false);
assert.equal(g.dmaFaults.at(-1)?.iova, BigInt(iova));
assert.deepEqual(g.faults.at(-1), { sid: 0x18, pasid: -1, addr: BigInt(iova), reason: 0x71, reasonName: 'SM: Present bit in first-level paging entry is clear', type: 'write' });

// The guest's debugfs view of the device: its context and PASID entry, then its first-stage table.
assert.match(g.dump(), /Device 0000:00:03\.0 with pasid 0 @0x[0-9a-f]+/);
vm.shutdown();
