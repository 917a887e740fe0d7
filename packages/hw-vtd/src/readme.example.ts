import assert from 'node:assert/strict';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  IOMMU_READ,
  IOMMU_WRITE,
  iommu_hwpt_vtd_s1,
  iommu_hwpt_vtd_s1_invalidate,
  iommuAttachGroupHandle,
  iommuDeviceClaimDmaOwner,
  iommuMap,
  iommuSubsystem,
} from '@iommu-lab/iommu-core';
import { DmaFault, Host, X86PageTable } from '@iommu-lab/platform';
import { deviceTranslationStruct, intelVtdDriver, OffsetMemory, type VtdUnit } from '@iommu-lab/hw-vtd';

// A host with one PCI device (RID 0x100, 20-bit PASIDs) behind a VT-d unit in scalable mode.
const host = new Host({ memory: 512 * 2 ** 20, devices: [{ bdf: '0000:01:00.0', iommu: 'dmar0', pasidBits: 20 }] });
const unit = intelVtdDriver.create(host, 'dmar0', {}) as VtdUnit;
const [dev] = iommuSubsystem(host).bringUp(unit);
iommuDeviceClaimDmaOwner(dev!, 'example');
const proc = host.spawnProcess();

// Stage 2, what a VMM maps for its guest: 16 MiB of guest RAM at GPA 0, in a nest-parent domain.
const parent = unit.ops.domainAllocUser(dev!, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
const ramPfn = host.frames.alloc(12);
iommuMap(parent, 0, ramPfn * 4096, 16 * 2 ** 20, IOMMU_READ | IOMMU_WRITE);

// Stage 1, what the guest builds in its own RAM: x86-64 tables whose pointers are GPAs.
let nextGpaPage = 0x10;
const guestTables = new X86PageTable(new OffsetMemory(host.mem, ramPfn), () => nextGpaPage++, 4);
guestTables.map(0x100, 0x300, 1, { write: true, user: true }); // GIOVA 0x100000 -> GPA 0x300000

// struct iommu_hwpt_vtd_s1 in the process's memory, as IOMMU_HWPT_ALLOC passes it down.
const s1 = iommu_hwpt_vtd_s1.encode({ pgtbl_addr: BigInt(guestTables.root) * 4096n, addr_width: 48 });
const s1ptr = proc.mmap(4096);
proc.memWrite(s1ptr, s1);
const nested = unit.ops.domainAllocUser(dev!, 0, parent, { type: IOMMU_HWPT_DATA_VTD_S1, uptr: s1ptr, len: s1.length, proc });
iommuAttachGroupHandle(nested, dev!.group, { domain: nested });

// The device's DMA goes GIOVA -> GPA (guest stage 1) -> HPA (stage 2), walked by the hardware.
const pci = host.device('0000:01:00.0');
pci.dmaWrite(0x10_0000n, new TextEncoder().encode('nested'));
assert.equal(new TextDecoder().decode(host.mem.read((ramPfn + 0x300) * 4096, 6)), 'nested');

// The guest remaps the page; the IOTLB keeps the old translation until the VMM forwards the guest's flush.
guestTables.unmap(0x100);
guestTables.map(0x100, 0x301, 1, { write: true, user: true });
pci.dmaWrite(0x10_0000n, new TextEncoder().encode('stale!'));
assert.equal(new TextDecoder().decode(host.mem.read((ramPfn + 0x300) * 4096, 6)), 'stale!');
const inv = iommu_hwpt_vtd_s1_invalidate.encode({ addr: 0x10_0000n, npages: 1n });
const invPtr = proc.mmap(4096);
proc.memWrite(invPtr, inv);
const array = { type: IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, uptr: invPtr, entry_len: inv.length, entry_num: 1, proc };
nested.cacheInvalidateUser!(array);
assert.equal(array.entry_num, 1);
pci.dmaWrite(0x10_0000n, new TextEncoder().encode('fresh!'));
assert.equal(new TextDecoder().decode(host.mem.read((ramPfn + 0x301) * 4096, 6)), 'fresh!');

// A DMA the tables do not allow faults, writes nothing, and the driver's fault handler logs it.
assert.throws(() => pci.dmaWrite(0x20_0000n, new Uint8Array(4)), DmaFault);
assert.equal(unit.faults.log.at(-1)?.reasonName, 'SM: Present bit in first-level paging entry is clear');

// The kernel's debugfs domain_translation_struct, both stages.
const dump = deviceTranslationStruct(unit, dev!);
assert.match(dump, /nested stage 1/);
assert.match(dump, /nested stage 2/);
