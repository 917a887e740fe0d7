import { DMA_ATS, type DmaFaultInfo, DMA_WRITE, Host, NO_PASID, type PageRequest, type PciDevice, PRG_RESPONSE_INVALID, PRG_RESPONSE_SUCCESS } from '@iommu-lab/platform';
import { beforeEach, describe, expect, it } from 'vitest';
import { DsaEngine } from './dma-engine.js';
import {
  decodeDsaCompletionRecord,
  decodeDsaHwDesc,
  DSA_OPCODE_MEMFILL,
  DSA_OPCODE_MEMMOVE,
  type DsaHwDesc,
  encodeDsaHwDesc,
  IDXD_OP_FLAG_BOF,
  IDXD_OP_FLAG_CRAV,
  IDXD_OP_FLAG_RCR,
} from './uapi/idxd.js';

const PAGE = 4096;

/** IOVA page -> host frame, per PASID (-1 = requests without PASID); writes need `rw`. */
class PageMap {
  readonly map = new Map<string, { pfn: number; rw: boolean }>();
  private last: DmaFaultInfo = { reason: 0, reasonName: '', address: 0n, pasid: NO_PASID, access: 0 };
  set(pasid: number, iovaPfn: number, pfn: number, rw = true): void {
    this.map.set(`${pasid}:${iovaPfn}`, { pfn, rw });
  }
  readonly accesses: number[] = [];
  translate(_rid: number, pasid: number, iovaPfn: number, access: number): number {
    this.accesses.push(access);
    const e = this.map.get(`${pasid}:${iovaPfn}`);
    if (e && (e.rw || !(access & DMA_WRITE))) return e.pfn;
    // Through ATS a missing page is "no access", which a page request can fix.
    this.last = { reason: 5, reasonName: 'not mapped', address: BigInt(iovaPfn) * 4096n, pasid, access, recoverable: (access & DMA_ATS) !== 0 || undefined };
    return -1;
  }
  lastFault(): DmaFaultInfo {
    return this.last;
  }
}

function desc(d: Partial<DsaHwDesc>): DsaHwDesc {
  return { pasid: 0, priv: false, flags: 0, opcode: DSA_OPCODE_MEMMOVE, completion_addr: 0n, src_addr: 0n, dst_addr: 0n, xfer_size: 0, ...d };
}

describe('DSA descriptor layout (include/uapi/linux/idxd.h)', () => {
  it('packs pasid:20, priv:1 at bit 31, flags:24 and opcode:8 as GCC bitfields on little endian', () => {
    const b = encodeDsaHwDesc(desc({ pasid: 0x12345, priv: true, flags: IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR, opcode: DSA_OPCODE_MEMMOVE, completion_addr: 0x1000n, src_addr: 0x2000n, dst_addr: 0x3000n, xfer_size: 0x40 }));
    const v = new DataView(b.buffer);
    expect(v.getUint32(0, true)).toBe(0x80012345); // priv << 31 | pasid
    expect(v.getUint32(4, true)).toBe(0x0300000c); // opcode 3 << 24 | CRAV (4) | RCR (8)
    expect(v.getBigUint64(8, true)).toBe(0x1000n);
    expect(v.getBigUint64(16, true)).toBe(0x2000n);
    expect(v.getBigUint64(24, true)).toBe(0x3000n);
    expect(v.getUint32(32, true)).toBe(0x40);
    expect(decodeDsaHwDesc(b)).toMatchObject({ pasid: 0x12345, priv: true, flags: 12, opcode: 3 });
  });
});

describe('DsaEngine', () => {
  let host: Host;
  let pci: PciDevice;
  let map: PageMap;
  let eng: DsaEngine;
  // Host frames 0x400.. back IOVA pages 0x10.. without PASID and IOVA pages 0x80.. with PASID 7.
  beforeEach(() => {
    host = new Host({ memory: 64 * 1024 * 1024, devices: [{ bdf: '0000:01:00.0', pasidBits: 8 }] });
    pci = host.device('0000:01:00.0');
    map = new PageMap();
    for (let i = 0; i < 8; i++) map.set(NO_PASID, 0x10 + i, 0x400 + i);
    for (let i = 0; i < 4; i++) map.set(7, 0x80 + i, 0x500 + i);
    pci.translator = map;
    eng = new DsaEngine(pci);
  });

  it('copies across page boundaries through the translation and writes a completion record', () => {
    const src = new Uint8Array(6000).map((_, i) => (i * 7) & 0xff);
    host.mem.write(0x400 * PAGE + 100, src);
    const rec = eng.submit(encodeDsaHwDesc(desc({ flags: IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR, completion_addr: 0x17000n, src_addr: 0x10064n, dst_addr: 0x13010n, xfer_size: 6000 })));
    expect(rec).toEqual({ status: 1, result: 0, fault_info: 0, bytes_completed: 6000, fault_addr: 0n });
    expect(host.mem.read(0x403 * PAGE + 0x10, 6000)).toEqual(src);
    expect(decodeDsaCompletionRecord(host.mem.read(0x407 * PAGE, 32))).toEqual(rec);
  });

  it('stops at the first untranslated page: status 3 (PAGE_FAULT_NOBOF), bit 7 for a write, bytes done, address', () => {
    host.mem.write(0x400 * PAGE, new Uint8Array(2 * PAGE).fill(0xab));
    // The destination runs from IOVA page 0x17 (mapped) into 0x18 (not mapped).
    const rec = eng.submit(desc({ src_addr: 0x10000n, dst_addr: 0x17800n, xfer_size: PAGE }));
    expect(rec.status).toBe(0x83);
    expect(rec.bytes_completed).toBe(0x800);
    expect(rec.fault_addr).toBe(0x18000n);
    expect(host.mem.read(0x407 * PAGE + 0x800, 0x800)).toEqual(new Uint8Array(0x800).fill(0xab));
    const readFault = eng.submit(desc({ src_addr: 0x20000n, dst_addr: 0x10000n, xfer_size: 16 }));
    expect(readFault).toMatchObject({ status: 3, bytes_completed: 0, fault_addr: 0x20000n });
    expect(pci.stats.faults).toBe(2);
  });

  it('respects read-only mappings: the write faults and writes nothing', () => {
    map.set(NO_PASID, 0x16, 0x406, false);
    host.mem.write(0x406 * PAGE, new Uint8Array(16).fill(0x11));
    host.mem.write(0x400 * PAGE, new Uint8Array(16).fill(0x22));
    const rec = eng.submit(desc({ src_addr: 0x10000n, dst_addr: 0x16000n, xfer_size: 16 }));
    expect(rec.status).toBe(0x83);
    expect(host.mem.read(0x406 * PAGE, 16)).toEqual(new Uint8Array(16).fill(0x11));
  });

  it('tags requests with the PASID the work queue gives, so they walk that PASID\'s table', () => {
    host.mem.write(0x500 * PAGE, Uint8Array.of(1, 2, 3, 4));
    expect(eng.submit(desc({ src_addr: 0x80000n, dst_addr: 0x81000n, xfer_size: 4 }), { pasid: 7 }).status).toBe(1);
    expect(host.mem.read(0x501 * PAGE, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    // The same IOVAs without a PASID are not mapped.
    expect(eng.submit(desc({ src_addr: 0x80000n, dst_addr: 0x81000n, xfer_size: 4 })).status).toBe(3);
  });

  it('fills with the 8-byte little-endian pattern', () => {
    eng.submit(desc({ opcode: DSA_OPCODE_MEMFILL, src_addr: 0x0807060504030201n, dst_addr: 0x11003n, xfer_size: 10 }));
    expect([...host.mem.read(0x401 * PAGE + 3, 10)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 1, 2]);
  });

  it('moves overlapping buffers like memmove', () => {
    const v = Uint8Array.from({ length: 3 * PAGE }, (_, i) => i % 251);
    host.mem.write(0x400 * PAGE, v);
    eng.submit(desc({ src_addr: 0x10000n, dst_addr: 0x10100n, xfer_size: 2 * PAGE }));
    expect(host.mem.read(0x400 * PAGE + 0x100, 2 * PAGE)).toEqual(v.subarray(0, 2 * PAGE));
  });

  it('answers bad descriptors with their status codes and an unaligned or unmapped record address in SWERR', () => {
    expect(eng.submit(desc({ opcode: 0x0e, xfer_size: 1 })).status).toBe(0x10); // DSA_COMP_BAD_OPCODE
    expect(eng.submit(desc({ flags: 0x800000, xfer_size: 1 })).status).toBe(0x11); // DSA_COMP_INVALID_FLAGS
    expect(eng.submit(desc({ src_addr: 0x10000n, dst_addr: 0x11000n, xfer_size: 2 * 1024 * 1024 + 1 })).status).toBe(0x13); // XFER_ERANGE
    eng.submit(desc({ flags: IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR, completion_addr: 0x17010n }));
    eng.submit(desc({ flags: IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR, completion_addr: 0x30000n }));
    expect(eng.swerr.map((e) => e.fault === null)).toEqual([true, false]);
  });
});

describe('DsaEngine block on fault (IDXD_OP_FLAG_BOF) on a PRI device', () => {
  /** Page requests arrive here; `fix` decides the response and may map the page first, as the software chain would. */
  class PriMap extends PageMap {
    readonly requests: PageRequest[] = [];
    fix: (req: PageRequest) => number = () => PRG_RESPONSE_SUCCESS;
    pageRequest(dev: PciDevice, req: PageRequest): void {
      this.requests.push(req);
      dev.pageResponse(req.prgi, req.pasid, this.fix(req));
    }
  }

  function setup(priEnabled = true) {
    const host = new Host({ memory: 64 * 1024 * 1024, devices: [{ bdf: '0000:01:00.0', pasidBits: 8, ats: true, pri: true }] });
    const pci = host.device('0000:01:00.0');
    pci.priEnabled = priEnabled;
    const map = new PriMap();
    pci.translator = map;
    return { host, pci, map, eng: new DsaEngine(pci) };
  }

  it('sends a page request for each missing page, waits for Success and retries: the whole transfer lands', () => {
    const { host, map, eng } = setup();
    map.set(7, 0x80, 0x500);
    host.mem.write(0x500 * PAGE, new Uint8Array(PAGE).fill(0x5a));
    // The software side maps the page it was asked for, then answers Success.
    let next = 0x600;
    map.fix = (r) => (map.set(r.pasid, r.iovaPfn, next++), PRG_RESPONSE_SUCCESS);
    const rec = eng.submit(desc({ flags: IDXD_OP_FLAG_BOF, src_addr: 0x80000n, dst_addr: 0x90800n, xfer_size: PAGE }), { pasid: 7 });
    expect(rec).toMatchObject({ status: 1, bytes_completed: PAGE });
    // Destination pages 0x90 and 0x91 were asked for, for writing, with PASID 7, one group each.
    expect(map.requests.map((r) => [r.iovaPfn, r.access, r.pasid, r.last])).toEqual([
      [0x90, DMA_WRITE, 7, true],
      [0x91, DMA_WRITE, 7, true],
    ]);
    expect(host.mem.read(0x600 * PAGE + 0x800, 0x800)).toEqual(new Uint8Array(0x800).fill(0x5a));
    expect(host.mem.read(0x601 * PAGE, 0x800)).toEqual(new Uint8Array(0x800).fill(0x5a));
    expect(eng.blockedFaults).toBe(2);
    // Every access went through ATS (DMA_ATS = 16).
    expect(map.accesses.every((a) => (a & DMA_ATS) !== 0)).toBe(true);
  });

  it('reports PAGE_FAULT_IR when software answers Invalid Request, or keeps answering Success without mapping', () => {
    const { map, eng } = setup();
    map.set(7, 0x80, 0x500);
    map.fix = () => PRG_RESPONSE_INVALID;
    // Status 4 (DSA_COMP_PAGE_FAULT_IR) | 0x80 (on a write); nothing done.
    expect(eng.submit(desc({ flags: IDXD_OP_FLAG_BOF, src_addr: 0x80000n, dst_addr: 0x90000n, xfer_size: 64 }), { pasid: 7 })).toMatchObject({ status: 0x84, bytes_completed: 0, fault_addr: 0x90000n });
    map.fix = () => PRG_RESPONSE_SUCCESS;
    const before = map.requests.length;
    expect(eng.submit(desc({ flags: IDXD_OP_FLAG_BOF, src_addr: 0x80000n, dst_addr: 0x90000n, xfer_size: 64 }), { pasid: 7 }).status).toBe(0x84);
    // One request and four retries that each asked again, then it gave up.
    expect(map.requests.length - before).toBe(4);
    expect(eng.unresolvedFaults).toBe(2);
  });

  it('keeps NOBOF semantics without the flag, or with PRI disabled: no page request, status 3, the fault recorded', () => {
    for (const [flags, pri] of [
      [0, true],
      [IDXD_OP_FLAG_BOF, false],
    ] as const) {
      const { pci, map, eng } = setup(pri);
      expect(eng.submit(desc({ flags, src_addr: 0x80000n, dst_addr: 0x90000n, xfer_size: 64 }), { pasid: 7 }).status).toBe(3);
      expect(map.requests).toEqual([]);
      expect(map.accesses.some((a) => (a & DMA_ATS) !== 0)).toBe(false);
      expect(pci.stats.faults).toBe(1);
    }
  });

  it('blocks on a fault of the completion record too', () => {
    const { host, map, eng } = setup();
    map.fix = (r) => (map.set(r.pasid, r.iovaPfn, 0x700), PRG_RESPONSE_SUCCESS);
    eng.submit(desc({ flags: IDXD_OP_FLAG_BOF | IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR, completion_addr: 0xa0020n, opcode: 0 }), { pasid: 7 });
    expect(eng.swerr).toEqual([]);
    expect(decodeDsaCompletionRecord(host.mem.read(0x700 * PAGE + 0x20, 32)).status).toBe(1);
  });
});
