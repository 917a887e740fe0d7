import {
  IOMMU_CACHE,
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  IOMMU_PGFAULT_PERM_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachDevicePasid,
  iommuDetachDevicePasid,
  iommuDeviceClaimDmaOwner,
  iommuMap,
  type IommuDomain,
  type IopfGroup,
} from '@iommu-lab/iommu-core';
import { DMA_READ, DMA_WRITE, DmaFault, PciDevice, PRG_RESPONSE_FAILURE, PRG_RESPONSE_INVALID, PRG_RESPONSE_SUCCESS, PRG_RESPONSE_TIMEOUT } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { DEV_A, DEV_B, smmuHost } from '../__tests__/host.js';
import { Ste } from '../format/ste.js';

const RW = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;

/** A PRI + ATS + PASID device at DEV_A, a stage-1 domain with a fault handler at PASID 5 that maps what is asked. */
function setup(handler?: (d: IommuDomain, g: IopfGroup) => void) {
  const h = smmuHost({}, [
    { bdf: DEV_A, iommu: 'smmu0', pasidBits: 20, ats: true, pri: true },
    { bdf: DEV_B, iommu: 'smmu0', pasidBits: 20, ats: false, pri: true },
  ]);
  const a = h.dev(DEV_A);
  iommuDeviceClaimDmaOwner(a, h);
  const domain = () => h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_PASID, null, null);
  const d = domain();
  const groups: IopfGroup[] = [];
  d.iopfHandler = (g) => {
    groups.push(g);
    handler?.(d, g);
  };
  const pci = h.host.device(DEV_A);
  return { h, a, d, groups, pci };
}

/** The handler most SVA code has: bring the page in, answer SUCCESS. */
function mapAndSucceed(h: ReturnType<typeof setup>['h']) {
  return (d: IommuDomain, g: IopfGroup) => {
    iommuMap(d, Number(g.lastFault.addr), h.host.frames.allocFrame() * 4096, 4096, RW);
    g.respond(IOMMU_PAGE_RESP_SUCCESS);
  };
}

describe('PRI on the host SMMUv3 driver', () => {
  it('probe: the PRI queue programmed and enabled, PRIQ interrupts on; PRI at the device only once a fault domain attaches', () => {
    const { h, a, d, pci } = setup();
    const hw = h.hw;
    expect(hw.regs.priqBaseAddr).toBe(h.drv.smmu.priq!.base);
    expect(hw.regs.priqLog2).toBe(7);
    expect(hw.regs.cr0 & 2).toBe(2);
    expect(hw.regs.irqCtrl & 2).toBe(2);
    expect(h.drv.smmu.streams.get(a.rid)).toMatchObject({ priSupported: true, prgRespNeedsSsid: true });
    expect(pci.priEnabled).toBe(false);
    iommuAttachDevicePasid(d, a, 5, { domain: d });
    expect(pci.priEnabled).toBe(true);
    iommuDetachDevicePasid(d, a, 5);
    expect(pci.priEnabled).toBe(false);
  });

  it('a fault round trip: ATS says no access, the page request reaches the domain, CMD_PRI_RESP lets the retry through', () => {
    const { h, a, d, groups, pci } = setup((dom, g) => mapAndSucceed(h)(dom, g));
    iommuAttachDevicePasid(d, a, 5, { domain: d });
    const events = h.hw.evtqStats.written;
    expect(() => pci.dmaWrite(0x7000n, new Uint8Array([1]), { pasid: 5, ats: true })).toThrow(DmaFault);
    expect(h.hw.lastFault()).toMatchObject({ reasonName: 'F_TRANSLATION', recoverable: true });
    const syncs = h.hw.cmdq.stats.syncs;
    expect(pci.pageRequest(0x7000n, DMA_WRITE, { pasid: 5 })).toBe(PRG_RESPONSE_SUCCESS);
    expect(groups.map((g) => g.faults)).toEqual([[{ flags: IOMMU_FAULT_PAGE_REQUEST_PASID_VALID | IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE, pasid: 5, grpid: 0, perm: IOMMU_PGFAULT_PERM_WRITE, addr: 0x7000n, privateData: { sid: a.rid } }]]);
    expect(h.drv.smmu.priq!.log).toEqual([{ sid: a.rid, ssid: 5, addr: 0x7000n, prgi: 0, perm: IOMMU_PGFAULT_PERM_WRITE, last: true, outcome: 'reported' }]);
    // The response is one CMD_PRI_RESP, without a CMD_SYNC (the map's TLBI has none to flush: nothing was cached).
    expect(h.hw.cmdq.stats.byOp.PRI_RESP).toBe(1);
    expect(h.hw.cmdq.stats.syncs).toBe(syncs);
    pci.dmaWrite(0x7000n, new Uint8Array([0xab]), { pasid: 5, ats: true });
    expect(h.host.mem.u8(d.iovaToPhys!(0x7000))).toBe(0xab);
    // No event was recorded for the ATS miss.
    expect(h.hw.evtqStats.written).toBe(events);
  });

  it('the handler refuses: Invalid Request reaches the device', () => {
    const { h, a, d, pci } = setup((_d, g) => g.respond(IOMMU_PAGE_RESP_INVALID));
    iommuAttachDevicePasid(d, a, 5, { domain: d });
    expect(pci.pageRequest(0x7000n, DMA_READ, { pasid: 5 })).toBe(PRG_RESPONSE_INVALID);
    expect(h.hw.priq.stats.responses).toBe(1);
  });

  it('a PASID nobody handles is answered by the core (INVALID) through CMD_PRI_RESP', () => {
    const { h, a, d, pci } = setup();
    iommuAttachDevicePasid(d, a, 5, { domain: d });
    expect(pci.pageRequest(0x7000n, DMA_READ, { pasid: 9 })).toBe(PRG_RESPONSE_INVALID);
    expect(h.drv.smmu.priq!.log.at(-1)).toMatchObject({ ssid: 9, outcome: 'reported' });
  });

  it('STE.PPAR follows prg_resp_needs_ssid on the CD-table STE', () => {
    const { h, a, d } = setup();
    iommuAttachDevicePasid(d, a, 5, { domain: d });
    const at = h.drv.smmu.strtab.steAddr(a.rid);
    expect(Ste.decode(Array.from({ length: 8 }, (_, i) => h.host.mem.u64(at + i * 8)))).toMatchObject({ config: 5, ppar: 1, eats: 1 });
  });

  it('without ATS a fault domain attaches but PRI stays off (the faults are unrecoverable)', () => {
    const { h } = setup();
    const b = h.dev(DEV_B);
    iommuDeviceClaimDmaOwner(b, h);
    const d = h.drv.domainAllocUser(b, IOMMU_HWPT_ALLOC_PASID, null, null);
    d.iopfHandler = () => undefined;
    iommuAttachDevicePasid(d, b, 3, { domain: d });
    expect(h.host.device(DEV_B).priEnabled).toBe(false);
  });

  it('a request from a StreamID no master owns is denied (Response Failure); a stop marker is dropped', () => {
    const { h } = setup();
    const stray = new PciDevice({ bdf: '0000:00:07.0', pri: true }, h.host.mem, h.host.trace);
    stray.translator = h.hw;
    stray.priEnabled = true;
    expect(stray.pageRequest(0x1000n, DMA_READ)).toBe(PRG_RESPONSE_FAILURE);
    expect(h.drv.smmu.priq!.log.at(-1)).toMatchObject({ sid: 0x38, outcome: 'unexpected' });
    expect(h.drv.smmu.log.at(-1)).toMatch(/unexpected PRI request received: sid 0x38/);
    h.hw.pageRequest(stray, { rid: stray.rid, pasid: -1, iovaPfn: 1, access: 0, prgi: 4, last: true });
    expect(h.drv.smmu.priq!.log.at(-1)).toMatchObject({ outcome: 'stop-marker' });
    expect(stray.pageResponses).toBe(1);
  });

  it('overflow: the driver reports it, acknowledges OVFLG and drops partial groups', () => {
    const { h, a, d, pci, groups } = setup();
    iommuAttachDevicePasid(d, a, 5, { domain: d });
    const hw = h.hw;
    // Interrupts off while the device floods the queue (128 entries), then one thread run.
    hw.setIrqHandler('priq', null);
    for (let i = 0; i < 130; i++) hw.pageRequest(pci, { rid: a.rid, pasid: 5, iovaPfn: 0x10 + i, access: DMA_READ, prgi: i & 0x1ff, last: false });
    expect(hw.priq.stats).toMatchObject({ written: 128, lost: 2 });
    h.drv.smmu.priq!.thread(h.drv.smmu);
    expect(h.drv.smmu.log.at(-1)).toBe('PRIQ overflow detected -- requests lost');
    expect(hw.read32(0x100cc) >>> 31).toBe(hw.read32(0x100c8) >>> 31);
    // The partial requests were dropped: the last page of group 0 makes a group of one (nobody answers it here).
    hw.setIrqHandler('priq', () => h.drv.smmu.priq!.thread(h.drv.smmu));
    expect(pci.pageRequest(0x9000n, DMA_READ, { pasid: 5 })).toBe(PRG_RESPONSE_TIMEOUT);
    expect(groups.map((g) => g.faults.map((f) => f.addr))).toEqual([[0x9000n]]);
  });
});
