import {
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_LAB_VTD_FAULT_PASID_VALID,
  IOMMU_LAB_VTD_FAULT_READ,
  IOMMU_READ,
  IOMMU_VEVENTQ_TYPE_IOMMU_LAB_VTD,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD,
  IOMMU_WRITE,
  iommu_hwpt_vtd_s1,
  iommu_vevent_iommu_lab_vtd,
  iommuAttachGroupHandle,
  iommuMap,
  type ViommuCore,
} from '@iommu-lab/iommu-core';
import { DmaFault, X86PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { OffsetMemory } from '../hw/table-writer.js';
import type { NestedDomain } from './domain-nested.js';
import type { PagingDomain } from './domain-paging.js';
import { DEV_A, guestRam, userData, vtdHost } from './__tests__/host.js';
import type { LabVtdViommu } from './viommu-lab.js';

function rig() {
  const h = vtdHost();
  const dev = h.dev(DEV_A);
  const parent = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
  const base = guestRam(h, 256);
  iommuMap(parent, 0, base * 4096, 256 * 4096, IOMMU_READ | IOMMU_WRITE);
  const events: Uint8Array[] = [];
  const core = {
    reportEvent: (type: number, data: Uint8Array) => {
      expect(type).toBe(IOMMU_VEVENTQ_TYPE_IOMMU_LAB_VTD);
      events.push(data);
    },
    virtIdOf: () => 0x18n,
  } as unknown as ViommuCore;
  const viommu = h.unit.ops.viommuAlloc!(dev, parent, IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD, null, core) as LabVtdViommu;
  let next = 0x10;
  const pt = new X86PageTable(new OffsetMemory(h.host.mem, base), () => next++, 4);
  const data = userData(h.proc, iommu_hwpt_vtd_s1, { pgtbl_addr: BigInt(pt.root) * 4096n, addr_width: 48 }, IOMMU_HWPT_DATA_VTD_S1);
  const nested = h.unit.ops.domainAllocUser(dev, 0, viommu, data) as NestedDomain;
  iommuAttachGroupHandle(nested, dev.group, { domain: nested });
  return { h, dev, parent, viommu, nested, pt, events, pci: h.host.device(DEV_A) };
}

describe('iommu-lab extension (not in Linux): VT-d vIOMMU fault events', () => {
  it('allocates only its own type, over a second-stage nest parent', () => {
    const r = rig();
    expect(() => r.h.unit.ops.viommuAlloc!(r.dev, r.parent, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, null, {} as ViommuCore)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    expect(() => r.h.unit.ops.viommuAlloc!(r.dev, r.nested, IOMMU_VIOMMU_TYPE_IOMMU_LAB_VTD, null, {} as ViommuCore)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(r.nested.viommu).toBe(r.viommu);
    expect(r.nested.s2).toBe(r.parent);
  });

  it("reports a first-stage fault of its nested domain with the vDEVICE's virt_id, the IOVA and the access", () => {
    const r = rig();
    // Nothing mapped at IOVA 0x5000 in the guest's first stage: reason 0x71 (FS entry not present).
    expect(() => r.pci.dmaRead(0x5000n, 8)).toThrow(DmaFault);
    expect(r.events).toHaveLength(1);
    const e = iommu_vevent_iommu_lab_vtd.decode(r.events[0]!);
    expect(e).toMatchObject({ fault_addr: 0x5000n, virt_id: 0x18n, reason: 0x71 });
    // A request without PASID: PASID_VALID clear; a read: READ set.
    expect(e.flags).toBe(IOMMU_LAB_VTD_FAULT_READ);
    expect(e.flags & IOMMU_LAB_VTD_FAULT_PASID_VALID).toBe(0);
    expect(r.viommu.reported).toBe(1);
  });

  it('stays silent for faults that are not the guest stage 1 and after the domain is freed', () => {
    const r = rig();
    // A first-stage leaf pointing past the 256 guest pages: the stage-2 translation of its output faults.
    r.pt.map(0x7, 0x9000, 1, { write: true, user: true });
    expect(() => r.pci.dmaWrite(0x7000n, new Uint8Array(8))).toThrow(DmaFault);
    expect(r.events).toHaveLength(0);
    r.nested.free();
    expect(r.viommu.nested.size).toBe(0);
    r.viommu.destroy();
  });
});
