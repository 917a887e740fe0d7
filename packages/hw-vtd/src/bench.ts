// hw-vtd benchmarks: IOTLB-hit translation, a cold nested 4 x 4 walk, and mapping 1 GiB in 4 KiB pages.
import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_READ, IOMMU_WRITE, iommuMap, iommuSubsystem, iommuUnmap } from '@iommu-lab/iommu-core';
import { type BenchCase, DMA_READ, Host, PhysMem, X86PageTable } from '@iommu-lab/platform';
import { PASID_ENTRY_PGTT_NESTED } from './format/pasid-entry.js';
import type { PagingDomain } from './driver/domain-paging.js';
import { OffsetMemory, VtdTableWriter } from './hw/table-writer.js';
import { VtdHardware } from './hw/vtd-hw.js';
import { parseVtdOptions, vtdCapabilities } from './options.js';
import { createVtdUnit } from './unit.js';

const RID = 0x100;
const PASID = 5;
const PAGES = 1024;
const GUEST_BASE = 0x8000;
const GUEST_PAGES = 8192;

/** A unit with a nested PASID: a guest stage-1 table (4 levels) over a 4-level stage 2 of 4 KiB pages. */
function nestedRig(): { hw: VtdHardware; iova: number } {
  const mem = new PhysMem(256 * 2 ** 20);
  let next = 0x100;
  const alloc = () => next++;
  const { cap, ecap } = vtdCapabilities(parseVtdOptions({}));
  const hw = new VtdHardware(mem, { cap, ecap });
  const w = new VtdTableWriter(mem, alloc);
  w.enable(hw);
  const ss = alloc();
  for (let g = 0; g < GUEST_PAGES; g++) w.ssMap(ss, 4, g, GUEST_BASE + g, 1);
  let gnext = 0x10;
  const pt = new X86PageTable(new OffsetMemory(mem, GUEST_BASE), () => gnext++, 4);
  const iova = 0x12_3400;
  for (let i = 0; i < PAGES; i++) pt.map(iova + i, 0x1000 + i, 1, { write: true, user: true });
  w.setPasidEntry(RID, PASID, { present: true, pgtt: PASID_ENTRY_PGTT_NESTED, aw: 2, did: 7, ssptptr: BigInt(ss) * 4096n, fsptptr: BigInt(pt.root) * 4096n });
  // Warm the A bits (and the IOTLB) once.
  for (let i = 0; i < PAGES; i++) hw.translate(RID, PASID, iova + i, DMA_READ);
  return { hw, iova };
}

let rig: ReturnType<typeof nestedRig> | undefined;
let sink = 0;
const HIT_N = 1_000_000;
const COLD_N = 200_000;

const iotlbHit: BenchCase = {
  name: 'IOTLB-hit translation (nested PASID, 1024 pages)',
  kind: 'ops',
  opsPerCall: HIT_N,
  goal: { op: '>=', value: 20e6 },
  setup() {
    rig = nestedRig();
  },
  fn() {
    const { hw, iova } = rig!;
    let s = 0;
    for (let i = 0; i < HIT_N; i++) s += hw.translate(RID, PASID, iova + (i & (PAGES - 1)), DMA_READ);
    sink ^= s;
  },
};

const coldNested: BenchCase = {
  name: 'cold nested 4-level x 4-level walk, caches off (24 table reads)',
  kind: 'ops',
  opsPerCall: COLD_N,
  goal: { op: '>=', value: 5e6 },
  setup() {
    rig = nestedRig();
    rig.hw.setCaching({ iotlb: false, pagingStructure: false });
  },
  fn() {
    const { hw, iova } = rig!;
    let s = 0;
    for (let i = 0; i < COLD_N; i++) s += hw.translate(RID, PASID, iova + (i & (PAGES - 1)), DMA_READ);
    sink ^= s;
  },
};

let mapHost: Host | undefined;
const map1G: BenchCase = {
  name: 'map 1 GiB in 4 KiB pages into a second-stage domain',
  kind: 'value',
  unit: 'ms',
  runs: 3,
  goal: { op: '<=', value: 150 },
  setup() {
    mapHost = new Host({ memory: 256 * 2 ** 20, devices: [{ bdf: '0000:01:00.0', iommu: 'dmar0' }] });
    iommuSubsystem(mapHost).bringUp(createVtdUnit(mapHost, 'dmar0'));
  },
  fn() {
    const dev = iommuSubsystem(mapHost!).device('0000:01:00.0');
    const d = dev.unit.ops.domainAllocUser!(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    const t0 = performance.now();
    // A physical base 4 KiB past 2 MiB alignment keeps every leaf at 4 KiB (262144 of them).
    iommuMap(d, 0x4000_0000, 0x1_0000_1000, 2 ** 30, IOMMU_READ | IOMMU_WRITE);
    const ms = performance.now() - t0;
    iommuUnmap(d, 0x4000_0000, 2 ** 30);
    d.free();
    return ms;
  },
};

export const benchmarks: BenchCase[] = [iotlbHit, coldNested, map1G];

/** Keeps the translation loops from being optimised away. */
export function benchSink(): number {
  return sink;
}
