import { DMA_ATS, DMA_READ, DMA_WRITE, PciDevice, PRG_RESPONSE_INVALID, PRG_RESPONSE_SUCCESS, PRG_RESPONSE_TIMEOUT, Tracer, X86PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { FaultRecord } from '../format/fault-record.js';
import { PageGroupResponseDesc } from '../format/inv-desc.js';
import { DMA_PRS_PPR, DMA_PRS_PRO, DMAR_PECTL_REG, DMAR_PQA_REG, DMAR_PQH_REG, DMAR_PQT_REG, DMAR_PRS_REG } from '../format/page-request.js';
import { PASID_ENTRY_PGTT_FL_ONLY } from '../format/pasid-entry.js';
import { DMA_FECTL_IM, DMA_FECTL_IP, DMAR_FSTS_REG, VTD_FRCD_REG_OFFSET } from '../format/registers.js';
import { hwFixture, queue, RID } from './__tests__/fixture.js';

/** A unit with a one-page queue (PQS 0: 128 descriptors), a PRI device at RID 0x100 and its context entry (PRE as asked). */
function prqFixture(pre = true) {
  const f = hwFixture();
  const prqPfn = f.alloc();
  f.hw.write64(DMAR_PQA_REG, BigInt(prqPfn) << 12n);
  f.hw.write32(DMAR_PECTL_REG, 0);
  f.w.setContext(RID, { present: true, pasidEnable: true, pre, pdts: 2, pasidDirPtr: BigInt(f.alloc()) * 4096n });
  const dev = new PciDevice({ bdf: '0000:01:00.0', pasidBits: 8, ats: true, pri: true }, f.mem, new Tracer());
  dev.translator = f.hw;
  dev.priEnabled = true;
  let events = 0;
  f.hw.onPageRequestEvent = () => events++;
  return { ...f, prqPfn, dev, events: () => events };
}

const qword = (f: { mem: { u64(pa: number): bigint } }, pfn: number, off: number, i: number) => f.mem.u64(pfn * 4096 + off + i * 8);

describe('page request queue (VT-d 7.4, 7.5)', () => {
  it('writes each request as a 32-byte descriptor at PQA + PQT, moves PQT, sets PPR and raises one event', () => {
    const f = prqFixture();
    expect(f.dev.pageRequest(0x7000_1234n, DMA_WRITE, { pasid: 5 })).toBe(PRG_RESPONSE_TIMEOUT);
    // qw0: type 1 | PP (bit 8) | RID 0x100 << 16 | PASID 5 << 32; qw1: WR (bit 1) | LPIG (bit 2) | PRGI 0 | page 0x70001000.
    expect(qword(f, f.prqPfn, 0, 0)).toBe(0x0000_0005_0100_0101n);
    expect(qword(f, f.prqPfn, 0, 1)).toBe(0x7000_1006n);
    expect(f.hw.read64(DMAR_PQT_REG)).toBe(0x20n);
    expect(f.hw.read32(DMAR_PRS_REG)).toBe(DMA_PRS_PPR);
    expect(f.events()).toBe(1);
    // Without a PASID and for a read: qw0 has no PP and PASID 0; qw1 RD (bit 0) | LPIG | PRGI 1 << 3 = 0xd.
    f.dev.pageRequest(0x2000n, DMA_READ);
    expect(qword(f, f.prqPfn, 0x20, 0)).toBe(0x0100_0001n);
    expect(qword(f, f.prqPfn, 0x20, 1)).toBe(0x200dn);
    // PPR was still set: no second event until software clears it (write 1) and another request comes.
    expect(f.events()).toBe(1);
    f.hw.write32(DMAR_PRS_REG, DMA_PRS_PPR);
    f.hw.write64(DMAR_PQH_REG, 0x40n);
    f.dev.pageRequest(0x3000n, DMA_READ);
    expect(f.events()).toBe(2);
    expect(f.hw.prq!.written).toBe(3);
  });

  it('holds the event in PECTL.IP while masked and delivers it when software unmasks', () => {
    const f = prqFixture();
    f.hw.write32(DMAR_PECTL_REG, DMA_FECTL_IM);
    f.dev.pageRequest(0x1000n, DMA_READ, { pasid: 1 });
    expect(f.events()).toBe(0);
    expect(f.hw.read32(DMAR_PECTL_REG)).toBe((DMA_FECTL_IM | DMA_FECTL_IP) >>> 0);
    f.hw.write32(DMAR_PECTL_REG, 0);
    expect(f.events()).toBe(1);
    expect(f.hw.read32(DMAR_PECTL_REG)).toBe(0);
  });

  it('sets PRO and drops the request when the queue is full; while PRO is set requests are dropped without an event', () => {
    const f = prqFixture();
    f.hw.write32(DMAR_PRS_REG, 0);
    // 128 slots, one always empty: 127 fit with PQH at 0.
    for (let i = 0; i < 127; i++) f.dev.pageRequest(BigInt(i) << 12n, DMA_READ);
    expect(f.hw.read64(DMAR_PQT_REG)).toBe(127n * 32n);
    expect(f.hw.prq!.dropped).toBe(0);
    f.dev.pageRequest(0x80_0000n, DMA_READ);
    expect(f.hw.prq!.dropped).toBe(1);
    expect(f.hw.read32(DMAR_PRS_REG) & DMA_PRS_PRO).toBe(DMA_PRS_PRO);
    // PPR was set by the first request: the overflow raises no new event.
    expect(f.events()).toBe(1);
    f.hw.write64(DMAR_PQH_REG, 127n * 32n);
    f.dev.pageRequest(0x81_0000n, DMA_READ);
    expect(f.hw.prq!.dropped).toBe(2);
    expect(f.hw.read64(DMAR_PQT_REG)).toBe(127n * 32n);
    // Software clears PPR and PRO: requests are queued again.
    f.hw.write32(DMAR_PRS_REG, DMA_PRS_PPR | DMA_PRS_PRO);
    f.dev.pageRequest(0x82_0000n, DMA_READ);
    expect(f.hw.read64(DMAR_PQT_REG)).toBe(0n);
    expect(f.events()).toBe(2);
  });

  it('refuses a request whose context entry has PRE clear: fault 0x47 recorded, Invalid Request answered by the hardware', () => {
    const f = prqFixture(false);
    expect(f.dev.pageRequest(0x5000n, DMA_WRITE, { pasid: 2 })).toBe(PRG_RESPONSE_INVALID);
    expect(f.hw.prq!.written).toBe(0);
    expect(f.hw.read32(DMAR_FSTS_REG) & 2).toBe(2);
    const rec = FaultRecord.decode([f.hw.read64(VTD_FRCD_REG_OFFSET), f.hw.read64(VTD_FRCD_REG_OFFSET + 8)]);
    expect(rec).toMatchObject({ reason: 0x47, sid: RID, pasidPresent: true, pasid: 2, faultInfo: 0x5000n });
  });

  it('sends a page group response from the invalidation queue to the device that asked, by RID, PASID and PRGI', () => {
    const f = prqFixture();
    const q = queue(f);
    // The "software": answer inside the event, as a driver's interrupt handler does.
    f.hw.onPageRequestEvent = () => q.submit(PageGroupResponseDesc.encode({ type: 9, rid: RID, pasidPresent: true, pasid: 5, respCode: 0, prgi: 0 }));
    expect(f.dev.pageRequest(0x7000n, DMA_WRITE, { pasid: 5 })).toBe(PRG_RESPONSE_SUCCESS);
    expect(f.hw.prq!.responses).toBe(1);
    expect(f.dev.pageResponses).toBe(1);
  });

  it('answers an ATS translation request for a page a page request can bring in with "no access", recording nothing', () => {
    const f = prqFixture();
    const pt = new X86PageTable(f.mem, f.alloc, 4);
    f.w.setPasidEntry(RID, 5, { present: true, pgtt: PASID_ENTRY_PGTT_FL_ONLY, did: 1, fsptptr: BigInt(pt.root) * 4096n });
    pt.map(0x100, 0x900, 1, { user: true });
    const recorded = f.hw.faults.recorded;
    expect(f.hw.translate(RID, 5, 0x101, DMA_WRITE | DMA_ATS)).toBe(-1);
    expect(f.hw.lastFault()).toMatchObject({ reason: 0x71, recoverable: true });
    // Read-only page, write asked: 0x85 is recoverable too.
    expect(f.hw.translate(RID, 5, 0x100, DMA_WRITE | DMA_ATS)).toBe(-1);
    expect(f.hw.lastFault()).toMatchObject({ reason: 0x85, recoverable: true });
    expect(f.hw.faults.recorded).toBe(recorded);
    // A structure fault (no PASID entry) is not something a page request fixes: recorded.
    expect(f.hw.translate(RID, 6, 0x100, DMA_READ | DMA_ATS)).toBe(-1);
    expect(f.hw.lastFault().recoverable).toBeUndefined();
    expect(f.hw.faults.recorded).toBe(recorded + 1);
    // The same not-present page without ATS is an ordinary recorded fault.
    expect(f.hw.translate(RID, 5, 0x101, DMA_WRITE)).toBe(-1);
    expect(f.hw.lastFault().recoverable).toBeUndefined();
    expect(f.hw.faults.recorded).toBe(recorded + 2);
  });

  it('has no page request queue without ECAP.PRS: the request goes nowhere and the device times out', () => {
    const f = hwFixture({ prs: false });
    expect(f.hw.prq).toBeNull();
    const dev = new PciDevice({ bdf: '0000:01:00.0', pri: true }, f.mem, new Tracer());
    dev.translator = f.hw;
    dev.priEnabled = true;
    expect(dev.pageRequest(0n, DMA_READ)).toBe(PRG_RESPONSE_TIMEOUT);
  });
});
