import assert from 'node:assert/strict';
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_READ,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  IOMMU_WRITE,
  iommu_hwpt_arm_smmuv3,
  iommu_vevent_arm_smmuv3,
  iommuAttachGroupHandle,
  iommuDeviceClaimDmaOwner,
  iommuMap,
  iommuReplaceGroupHandle,
  iommuSubsystem,
  type ViommuCore,
} from '@iommu-lab/iommu-core';
import { A64PageTable, DmaFault, Host } from '@iommu-lab/platform';
import { armSmmuV3Driver, Cd, dumpStream, Evt } from '@iommu-lab/hw-smmuv3';

// A host with one PCI device behind an SMMUv3: its RID (0x100) is its StreamID.
const host = new Host({ memory: 256 * 2 ** 20, devices: [{ bdf: '0000:01:00.0', iommu: 'smmu0' }] });
const unit = armSmmuV3Driver.create(host, 'smmu0', {});
const [dev] = iommuSubsystem(host).bringUp(unit);
const pci = host.device('0000:01:00.0');
iommuDeviceClaimDmaOwner(dev!, 'example');

// 1. A stage-1 paging domain: IOVA 0x100000 -> one page of RAM.
const s1 = unit.ops.domainAllocUser(dev!, 0, null, null);
const page = host.frames.allocFrame() * 4096;
iommuMap(s1, 0x10_0000, page, 4096, IOMMU_READ | IOMMU_WRITE);
iommuAttachGroupHandle(s1, dev!.group, { domain: s1 });
pci.dmaWrite(0x10_0010n, new TextEncoder().encode('hi'));
assert.equal(new TextDecoder().decode(host.mem.read(page + 0x10, 2)), 'hi');

// 2. Nesting. The VM's RAM (IPA 0x40000000, 1 MiB) is mapped by a stage-2 nest parent; a vIOMMU sits on it.
const IPA = 0x4000_0000;
const ram = host.frames.alloc(8) * 4096;
const parent = unit.ops.domainAllocUser(dev!, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
iommuMap(parent, IPA, ram, 2 ** 20, IOMMU_READ | IOMMU_WRITE);
const vevents: Uint8Array[] = [];
const core: ViommuCore = {
  // what iommufd provides: the vEVENTQ and the vDEVICE table (vSID 0x7 is this device)
  reportEvent: (_type, data) => void vevents.push(data),
  findDevice: (vsid) => (vsid === 7n ? dev! : null),
  virtIdOf: () => 7n,
  allocMmap: () => 0n,
  destroyMmap: () => undefined,
};
const viommu = unit.ops.viommuAlloc(dev!, parent, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, null, core);

// The guest writes a CD (at IPA 0x40000000) and a stage-1 table into its RAM: IOVA 0x5000 -> IPA 0x40080000.
const guest = { read64: (ipa: number, o: Uint32Array) => host.mem.read64(ipa - IPA + ram, o), write64: (ipa: number, lo: number, hi: number) => host.mem.write64(ipa - IPA + ram, lo, hi) };
let nextTable = IPA / 4096 + 1;
const gpt = new A64PageTable(guest, () => nextTable++, { stage: 1, inputBits: 48 });
gpt.map(0x5, (IPA + 0x8_0000) / 4096, 3, { write: true, user: true });
const cd = Cd.encode({ t0sz: 16, epd1: 1, v: 1, ips: 5, aa64: 1, r: 1, a: 1, asid: 1, ttb0: BigInt(gpt.root * 4096) });
cd.forEach((dw, i) => host.mem.setU64(ram + i * 8, dw));

// The guest's STE (V | Config "S1 translate" | S1ContextPtr) becomes a nested domain on the vIOMMU.
const proc = host.spawnProcess();
const uptr = proc.mmap(4096);
proc.memWrite(uptr, iommu_hwpt_arm_smmuv3.encode({ ste: [BigInt(IPA) | 0xbn, 0n] }));
const nested = unit.ops.domainAllocUser(dev!, 0, viommu, { type: IOMMU_HWPT_DATA_ARM_SMMUV3, uptr, len: 16, proc });
iommuReplaceGroupHandle(dev!.group, nested, { domain: nested });
assert.match(dumpStream(unit.hw, host.mem, dev!.rid), /Config 7 \(nested\)/);

// DMA to IOVA 0x5000 lands at IPA 0x40080000, i.e. 512 KiB into the VM's RAM.
pci.dmaWrite(0x5000n, new Uint8Array([42]));
assert.equal(host.mem.u8(ram + 0x8_0000), 42);

// A stage-1 fault goes to the VM's event queue, with the virtual StreamID.
assert.throws(() => pci.dmaRead(0x9000n, 4), DmaFault);
const evt = Evt.decode(iommu_vevent_arm_smmuv3.decode(vevents[0]!).evt);
assert.equal(evt.type, 0x10); // F_TRANSLATION
assert.equal(evt.sid, 7);
