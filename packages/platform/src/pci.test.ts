import { describe, expect, it } from 'vitest';
import { Host } from './host.js';
import {
  DMA_ATS,
  DMA_PRIV,
  DMA_READ,
  DMA_WRITE,
  DmaFault,
  type DmaFaultInfo,
  type DmaTranslator,
  NO_PASID,
  type PageRequest,
  type PciDevice,
  parseBdf,
  PRG_RESPONSE_INVALID,
  PRG_RESPONSE_SUCCESS,
  PRG_RESPONSE_TIMEOUT,
} from './pci.js';

/** A translator backed by a table of iova page -> frame, recording what it was asked. */
class TableTranslator implements DmaTranslator {
  readonly map = new Map<number, number>();
  readonly asked: [number, number, number, number][] = [];
  private last: DmaFaultInfo = { reason: 0, reasonName: '', address: 0n, pasid: NO_PASID, access: 0 };
  translate(rid: number, pasid: number, iovaPfn: number, access: number): number {
    this.asked.push([rid, pasid, iovaPfn, access]);
    const pfn = this.map.get(iovaPfn);
    if (pfn === undefined) {
      this.last = { reason: 0x71, reasonName: 'test: not present', address: BigInt(iovaPfn) << 12n, pasid, access };
      return -1;
    }
    return pfn;
  }
  lastFault(): DmaFaultInfo {
    return this.last;
  }
}

describe('PCI devices', () => {
  it('parse BDFs and compute the requester ID as bus << 8 | dev << 3 | fn', () => {
    expect(parseBdf('0000:01:00.0')).toEqual({ segment: 0, bus: 1, dev: 0, fn: 0 });
    const h = new Host({ memory: 16 * 2 ** 20, devices: [{ bdf: '0000:01:00.0' }, { bdf: '0000:02:1F.7', pasidBits: 20 }] });
    expect(h.device('0000:01:00.0').rid).toBe(0x0100);
    expect(h.device('0000:02:1f.7').rid).toBe(0x02ff);
    expect(h.device('0000:02:1f.7').pasidBits).toBe(20);
    expect(() => parseBdf('0000:1:00.0')).toThrow(/invalid BDF "0000:1:00.0"/);
    expect(() => parseBdf('0000:01:20.0')).toThrow(/device 32 > 31/);
    expect(() => h.device('0000:09:00.0')).toThrowError(expect.objectContaining({ code: 'ENODEV' }));
    expect(() => new Host({ memory: 2 ** 21, devices: [{ bdf: '0000:01:00.0' }, { bdf: '0000:01:00.0' }] })).toThrow(/listed twice/);
  });

  it('DMA through the translator page by page, and a fault writes nothing', () => {
    const h = new Host({ memory: 16 * 2 ** 20, devices: [{ bdf: '0000:01:00.0', pasidBits: 8 }] });
    const dev = h.device('0000:01:00.0');
    const t = new TableTranslator();
    dev.translator = t;
    const [a, b] = [h.frames.allocFrame(), h.frames.allocFrame()];
    t.map.set(0x10, a);
    t.map.set(0x11, b);
    dev.dmaWrite(0x10ffen, Uint8Array.of(1, 2, 3, 4), { pasid: 5 });
    expect(h.mem.read(a * 4096 + 0xffe, 2)).toEqual(Uint8Array.of(1, 2));
    expect(h.mem.read(b * 4096, 2)).toEqual(Uint8Array.of(3, 4));
    expect(t.asked).toEqual([[0x100, 5, 0x10, DMA_WRITE], [0x100, 5, 0x11, DMA_WRITE]]);
    expect(dev.dmaRead(0x10fffn, 2)).toEqual(Uint8Array.of(2, 3));

    let err: unknown;
    try {
      dev.dmaWrite(0x11ffen, Uint8Array.of(9, 9, 9, 9));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DmaFault);
    expect((err as DmaFault).address).toBe(0x12000n);
    expect((err as DmaFault).reason).toBe(0x71);
    expect(h.mem.read(b * 4096 + 0xffe, 2)).toEqual(Uint8Array.of(0, 0));
    expect(dev.stats).toMatchObject({ reads: 1, writes: 1, faults: 1 });
    expect(() => dev.dmaRead(0n, 1, { pasid: 256 })).toThrow(/cannot issue PASID 256/);
    // A translation past the end of RAM faults the whole request before the first page is written.
    t.map.set(0x12, 16 * 256);
    expect(() => dev.dmaWrite(0x11ffen, Uint8Array.of(9, 9, 9, 9))).toThrow(/no memory/);
    expect(h.mem.read(b * 4096 + 0xffe, 2)).toEqual(Uint8Array.of(0, 0));
  });

  it('DMA to physical addresses when no IOMMU is in front of the device', () => {
    const h = new Host({ memory: 4 * 2 ** 20, devices: [{ bdf: '0000:03:00.0' }] });
    const dev = h.device('0000:03:00.0');
    dev.dmaWrite(0x200000n, Uint8Array.of(7));
    expect(h.mem.u8(0x200000)).toBe(7);
    expect(() => dev.dmaRead(0x400000n, 1)).toThrow(DmaFault);
  });

  it('asks with DMA_ATS when the device translates through ATS', () => {
    const h = new Host({ memory: 16 * 2 ** 20, devices: [{ bdf: '0000:01:00.0', ats: true }] });
    const dev = h.device('0000:01:00.0');
    const t = new TableTranslator();
    dev.translator = t;
    t.map.set(0x10, h.frames.allocFrame());
    dev.dmaRead(0x10000n, 1, { ats: true });
    // DMA_READ (1) | DMA_ATS (16)
    expect(t.asked).toEqual([[0x100, NO_PASID, 0x10, 17]]);
    expect(DMA_ATS).toBe(16);
  });
});

/** A translator that answers page requests: `answer` runs inside pageRequest, as the software chain does. */
class PriTranslator extends TableTranslator {
  readonly requests: PageRequest[] = [];
  answer: ((dev: PciDevice, req: PageRequest) => void) | null = null;
  pageRequest(dev: PciDevice, req: PageRequest): void {
    this.requests.push(req);
    this.answer?.(dev, req);
  }
}

describe('PRI page requests', () => {
  function setup() {
    const h = new Host({ memory: 16 * 2 ** 20, devices: [{ bdf: '0000:01:00.0', pasidBits: 8, ats: true, pri: true }, { bdf: '0000:02:00.0' }] });
    const dev = h.device('0000:01:00.0');
    const t = new PriTranslator();
    dev.translator = t;
    return { h, dev, t };
  }

  it('send one-page groups with the PASID, the access and a new PRGI each time; the response the IOMMU forwards is returned', () => {
    const { dev, t } = setup();
    dev.priEnabled = true;
    t.answer = (d, r) => d.pageResponse(r.prgi, r.pasid, PRG_RESPONSE_SUCCESS);
    expect(dev.pageRequest(0x7000_1234n, DMA_WRITE, { pasid: 3 })).toBe(PRG_RESPONSE_SUCCESS);
    t.answer = (d, r) => d.pageResponse(r.prgi, r.pasid, PRG_RESPONSE_INVALID);
    expect(dev.pageRequest(0x5000n, DMA_READ, { pasid: 3, priv: true })).toBe(PRG_RESPONSE_INVALID);
    // Page 0x70001 of RID 0x100, PRGI 0 then 1, L set; the second carries DMA_PRIV (8) with the read.
    expect(t.requests).toEqual([
      { rid: 0x100, pasid: 3, iovaPfn: 0x70001, access: DMA_WRITE, prgi: 0, last: true },
      { rid: 0x100, pasid: 3, iovaPfn: 0x5, access: DMA_READ | DMA_PRIV, prgi: 1, last: true },
    ]);
    expect([dev.pageRequests, dev.pageResponses]).toEqual([2, 2]);
  });

  it('time out when no response came back while the request was handled, or one came for another PASID', () => {
    const { dev, t } = setup();
    dev.priEnabled = true;
    expect(dev.pageRequest(0x1000n, DMA_READ, { pasid: 1 })).toBe(PRG_RESPONSE_TIMEOUT);
    t.answer = (d, r) => d.pageResponse(r.prgi, 2, PRG_RESPONSE_SUCCESS);
    expect(dev.pageRequest(0x1000n, DMA_READ, { pasid: 1 })).toBe(PRG_RESPONSE_TIMEOUT);
    // A late response to PRGI 1 does not answer the next request, which has PRGI 2.
    t.answer = null;
    dev.pageResponse(1, 1, PRG_RESPONSE_SUCCESS);
    expect(dev.pageRequest(0x1000n, DMA_READ, { pasid: 1 })).toBe(PRG_RESPONSE_TIMEOUT);
  });

  it('wrap the PRG index at 9 bits', () => {
    const { dev, t } = setup();
    dev.priEnabled = true;
    for (let i = 0; i < 513; i++) dev.pageRequest(0n, DMA_READ);
    expect(t.requests.at(-2)!.prgi).toBe(511);
    expect(t.requests.at(-1)!.prgi).toBe(0);
    expect(t.requests.at(-1)!.pasid).toBe(NO_PASID);
  });

  it('refuse a page request from a device without PRI, or with PRI not enabled', () => {
    const { h, dev } = setup();
    expect(() => dev.pageRequest(0n, DMA_READ)).toThrow(/PRI disabled/);
    expect(() => h.device('0000:02:00.0').pageRequest(0n, DMA_READ)).toThrow(/PRI absent/);
  });
});
