import {
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  IOMMU_READ,
  IOMMU_WRITE,
  iommu_hwpt_vtd_s1,
  iommuAttachDevicePasid,
  iommuDeviceClaimDmaOwner,
  iommuMap,
  iommuSubsystem,
  type IopfGroup,
} from '@iommu-lab/iommu-core';
import { DMA_READ, DMA_WRITE, DmaFault, Host, PRG_RESPONSE_INVALID, PRG_RESPONSE_SUCCESS } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { DMAR_PECTL_REG, DMAR_PQA_REG } from '../format/page-request.js';
import { ScalableContextEntry } from '../format/context-entry.js';
import { createVtdUnit } from '../unit.js';
import { userData } from './__tests__/host.js';
import { QI_PGRP_RESP_TYPE } from '../format/inv-desc.js';

const PRI_DEV = '0000:05:00.0';
const PLAIN_DEV = '0000:06:00.0';

function priHost() {
  const host = new Host({
    memory: 256 * 2 ** 20,
    devices: [
      { bdf: PRI_DEV, iommu: 'dmar0', pasidBits: 8, ats: true, pri: true },
      { bdf: PLAIN_DEV, iommu: 'dmar0', pasidBits: 8 },
    ],
  });
  const unit = createVtdUnit(host, 'dmar0', {});
  const sub = iommuSubsystem(host);
  sub.bringUp(unit);
  const dev = (bdf: string) => {
    const d = sub.device(bdf);
    if (d.group.ownerCount === 0) iommuDeviceClaimDmaOwner(d, 'test');
    return d;
  };
  return { host, unit, dev, proc: host.spawnProcess() };
}

describe('intel-iommu page requests (prq.c)', () => {
  it('allocates the queue at init (PQA = queue | PRQ_ORDER), unmasks its event, and enables PRI with PRE on ATS+PRI devices only', () => {
    const h = priHost();
    const prq = h.unit.iommu.prq!;
    expect(h.unit.hw.read64(DMAR_PQA_REG)).toBe((BigInt(prq.basePfn) << 12n) | 4n);
    expect(h.unit.hw.read32(DMAR_PECTL_REG)).toBe(0);
    expect(h.host.device(PRI_DEV).priEnabled).toBe(true);
    expect(h.host.device(PLAIN_DEV).priEnabled).toBe(false);
    const ctxPa = h.unit.iommu.contextAddr(0x05, 0, false);
    expect(ScalableContextEntry.decode([0, 1, 2, 3].map((i) => h.host.mem.u64(ctxPa + i * 8))).pre).toBe(true);
    expect([...h.unit.iommu.devicesByRid.keys()]).toEqual([0x0500]);
  });

  it('reports a page request to the handler of the PASID domain and sends its response back as a page group response', () => {
    const h = priHost();
    const d = h.dev(PRI_DEV);
    const pci = h.host.device(PRI_DEV);
    const domain = h.unit.ops.domainAllocUser(d, IOMMU_HWPT_ALLOC_PASID, null, null);
    const frame = h.host.frames.allocFrame();
    const groups: IopfGroup[] = [];
    domain.iopfHandler = (g) => {
      groups.push(g);
      iommuMap(domain, 0x4000_0000, frame * 4096, 4096, IOMMU_READ | IOMMU_WRITE);
      g.respond(IOMMU_PAGE_RESP_SUCCESS);
    };
    iommuAttachDevicePasid(domain, d, 3, { domain });
    // The device asks through ATS, is told "no access" (nothing recorded), sends a page request, and retries.
    const recorded = h.unit.hw.faults.recorded;
    expect(() => pci.dmaWrite(0x4000_0010n, Uint8Array.of(7), { pasid: 3, ats: true })).toThrow(DmaFault);
    expect(h.unit.hw.faults.recorded).toBe(recorded);
    const resp = h.unit.iommu.qi.submitted[QI_PGRP_RESP_TYPE]!;
    expect(pci.pageRequest(0x4000_0010n, DMA_WRITE, { pasid: 3 })).toBe(PRG_RESPONSE_SUCCESS);
    pci.dmaWrite(0x4000_0010n, Uint8Array.of(7), { pasid: 3, ats: true });
    expect(h.host.mem.u8(frame * 4096 + 0x10)).toBe(7);
    expect(groups).toHaveLength(1);
    const flags = IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE | IOMMU_FAULT_PAGE_REQUEST_PASID_VALID | IOMMU_FAULT_PAGE_RESPONSE_NEEDS_PASID;
    expect(groups[0]!.faults).toEqual([{ flags, pasid: 3, grpid: 0, perm: 2, addr: 0x4000_0000n }]);
    expect(h.unit.iommu.qi.submitted[QI_PGRP_RESP_TYPE]).toBe(resp + 1);
    const last = h.unit.iommu.qi.history.filter((x) => x.type === QI_PGRP_RESP_TYPE).at(-1)!;
    // qw0: type 9 | PP (bit 4) | RC 0 | RID 0x500 << 16 | PASID 3 << 32; qw1: PRGI 0 << 3.
    expect(last.qw[0]).toBe(0x0000_0003_0500_0019n);
    expect(last.qw[1]).toBe(0n);
    expect(h.unit.iommu.prq!.log.at(-1)).toEqual({ rid: 0x500, pasid: 3, addr: 0x4000_0000n, prgi: 0, perm: 2, outcome: 'reported' });
  });

  it('answers Invalid Request when no domain at the PASID handles faults', () => {
    const h = priHost();
    const pci = h.host.device(PRI_DEV);
    h.dev(PRI_DEV);
    expect(pci.pageRequest(0x1000n, DMA_READ, { pasid: 9 })).toBe(PRG_RESPONSE_INVALID);
    const last = h.unit.iommu.qi.history.filter((x) => x.type === QI_PGRP_RESP_TYPE).at(-1)!;
    // RC (15:12) = 1: Invalid Request.
    expect(Number((last.qw[0]! >> 12n) & 0xfn)).toBe(IOMMU_PAGE_RESP_INVALID);
  });

  it('answers a bad request itself: a non-canonical address, or a RID it has no device for', () => {
    const h = priHost();
    const pci = h.host.device(PRI_DEV);
    // Bit 47 set, bits 63:48 clear: not canonical for 48-bit virtual addresses.
    expect(pci.pageRequest(0x8000_0000_0000n, DMA_READ, { pasid: 1 })).toBe(PRG_RESPONSE_INVALID);
    expect(h.unit.iommu.prq!.log.at(-1)).toMatchObject({ outcome: 'bad', addr: 0x8000_0000_0000n });
    h.unit.iommu.devicesByRid.clear();
    expect(pci.pageRequest(0x1000n, DMA_READ, { pasid: 1 })).toBe(PRG_RESPONSE_INVALID);
    expect(h.unit.iommu.prq!.log.at(-1)).toMatchObject({ outcome: 'bad', rid: 0x500 });
  });

  it('refuses to attach a nested domain that takes page faults to a device without PRI (intel_iommu_enable_iopf: ENODEV)', () => {
    const h = priHost();
    for (const [bdf, ok] of [
      [PLAIN_DEV, false],
      [PRI_DEV, true],
    ] as const) {
      const d = h.dev(bdf);
      const parent = h.unit.ops.domainAllocUser(d, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
      const data = userData(h.proc, iommu_hwpt_vtd_s1, { pgtbl_addr: 0x10_0000n, addr_width: 48 }, IOMMU_HWPT_DATA_VTD_S1);
      const nested = h.unit.ops.domainAllocUser(d, IOMMU_HWPT_ALLOC_PASID, parent, data);
      nested.iopfHandler = () => {};
      const attach = () => iommuAttachDevicePasid(nested, d, 4, { domain: nested });
      if (ok) attach();
      else expect(attach).toThrowError(expect.objectContaining({ code: 'ENODEV' }));
    }
  });
});
