// hw-smmuv3 benchmarks: a TLB hit, and a cold nested walk (4 stage-1 levels, each table through 4 stage-2 levels).
import {
  IOMMU_CACHE,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_READ,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  IOMMU_WRITE,
  iommuAttachGroupHandle,
  iommuDeviceClaimDmaOwner,
  iommuMap,
  iommuSubsystem,
  iommu_hwpt_arm_smmuv3,
  type ViommuCore,
} from '@iommu-lab/iommu-core';
import { A64PageTable, type BenchCase, DMA_READ, ErrnoError, Host, NO_PASID } from '@iommu-lab/platform';
import { Cd, LINUX_MAIR } from './format/cd.js';
import type { SmmuDomain } from './driver/domain.js';
import type { SmmuV3 } from './hw/smmu.js';
import { createArmSmmuV3 } from './unit.js';

const N = 1_000_000;
const PAGES = 64;
const RW = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
const BDF = '0000:00:01.0';
let sink = 0;

/** A host whose device sits in a stage-1 domain mapping PAGES pages at IOVA 0x100000. */
function stage1Rig(): { hw: SmmuV3; rid: number } {
  const host = new Host({ memory: 64 * 2 ** 20, devices: [{ bdf: BDF, iommu: 'smmu0' }] });
  const unit = createArmSmmuV3(host, 'smmu0');
  const [dev] = iommuSubsystem(host).bringUp(unit);
  iommuDeviceClaimDmaOwner(dev!, host);
  const d = unit.ops.domainAllocUser(dev!, 0, null, null);
  iommuAttachGroupHandle(d, dev!.group, { domain: d });
  iommuMap(d, 0x10_0000, host.frames.alloc(6) * 4096, PAGES * 4096, RW);
  return { hw: unit.hw, rid: dev!.rid };
}

/**
 * A VM through the driver, TLB off: guest RAM mapped by 4 KiB stage-2 pages (4 levels), a guest CD and a
 * 4-level stage 1 in it, a nested STE from the vSTE. Each translation reads 4 x (4 + 1) + 4 = 24 descriptors.
 */
function nestedRig(): { hw: SmmuV3; rid: number } {
  const host = new Host({ memory: 64 * 2 ** 20, devices: [{ bdf: BDF, iommu: 'smmu0' }] });
  const unit = createArmSmmuV3(host, 'smmu0', { tlb: false });
  const [dev] = iommuSubsystem(host).bringUp(unit);
  iommuDeviceClaimDmaOwner(dev!, host);
  const parent = unit.ops.domainAllocUser(dev!, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as SmmuDomain;
  const ipa = 0x4000_0000;
  const ram = host.frames.alloc(8) * 4096;
  iommuMap(parent, ipa, ram, 1024 * 1024, RW);
  const core: ViommuCore = {
    reportEvent: () => undefined,
    findDevice: () => dev!,
    virtIdOf: () => 1n,
    allocMmap: () => {
      throw new ErrnoError('EOPNOTSUPP', 'bench');
    },
    destroyMmap: () => undefined,
  };
  const viommu = unit.ops.viommuAlloc(dev!, parent, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, null, core);
  let next = ipa / 4096 + 1;
  const view = { read64: (a: number, o: Uint32Array) => host.mem.read64(a - ipa + ram, o), write64: (a: number, l: number, h: number) => host.mem.write64(a - ipa + ram, l, h) };
  const s1 = new A64PageTable(view, () => next++, { stage: 1, inputBits: 48 });
  for (let i = 0; i < PAGES; i++) s1.map(0x7000_0000 + i, ipa / 4096 + 128 + i, 3, { write: true, user: true });
  Cd.encode({ t0sz: 16, ir0: 1, or0: 1, sh0: 3, epd1: 1, v: 1, ips: 5, aa64: 1, r: 1, a: 1, asid: 1, ttb0: BigInt(s1.root * 4096), mair: LINUX_MAIR }).forEach((d, i) => host.mem.setU64(ram + i * 8, d));
  const proc = host.spawnProcess();
  const uptr = proc.mmap(4096);
  proc.memWrite(uptr, iommu_hwpt_arm_smmuv3.encode({ ste: [BigInt(ipa) | 0xbn, 0n] }));
  const nested = unit.ops.domainAllocUser(dev!, 0, viommu, { type: IOMMU_HWPT_DATA_ARM_SMMUV3, uptr, len: 16, proc });
  iommuAttachGroupHandle(nested, dev!.group, { domain: nested });
  const hw = unit.hw;
  hw.translate(dev!.rid, NO_PASID, 0x7000_0000, DMA_READ);
  const before = hw.walker.reads;
  if (hw.translate(dev!.rid, NO_PASID, 0x7000_0001, DMA_READ) < 0 || hw.walker.reads - before !== 24) throw new Error('nested bench: a walk is not 24 descriptor reads');
  return { hw, rid: dev!.rid };
}

let s1rig: { hw: SmmuV3; rid: number } | undefined;
const tlbHit: BenchCase = {
  name: 'TLB-hit translation (stage 1, 4 KiB pages)',
  kind: 'ops',
  opsPerCall: N,
  goal: { op: '>=', value: 20e6 },
  setup() {
    s1rig = stage1Rig();
    for (let i = 0; i < PAGES; i++) s1rig.hw.translate(s1rig.rid, NO_PASID, 0x100 + i, DMA_READ);
  },
  fn() {
    const { hw, rid } = s1rig!;
    let s = 0;
    for (let i = 0; i < N; i++) s += hw.translate(rid, NO_PASID, 0x100 + (i & (PAGES - 1)), DMA_READ);
    sink ^= s;
  },
};

let nrig: { hw: SmmuV3; rid: number } | undefined;
const W = 200_000;
const nestedWalk: BenchCase = {
  name: 'cold nested 4x4 walk (24 descriptor reads, TLB off)',
  kind: 'ops',
  opsPerCall: W,
  goal: { op: '>=', value: 5e6 },
  setup() {
    nrig = nestedRig();
  },
  fn() {
    const { hw, rid } = nrig!;
    let s = 0;
    for (let i = 0; i < W; i++) s += hw.translate(rid, NO_PASID, 0x7000_0000 + (i & (PAGES - 1)), DMA_READ);
    sink ^= s;
  },
};

export const benchmarks: BenchCase[] = [tlbHit, nestedWalk];

/** Keeps the loops from being optimised away. */
export function benchSink(): number {
  return sink;
}
