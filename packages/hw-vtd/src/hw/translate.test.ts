import { DMA_READ, DMA_WRITE, NO_PASID, PciDevice, Tracer, X86PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { PASID_ENTRY_PGTT_FL_ONLY, PASID_ENTRY_PGTT_PT, PASID_ENTRY_PGTT_SL_ONLY } from '../format/pasid-entry.js';
import { SS } from '../format/ss-pte.js';
import { hwFixture, RID } from './__tests__/fixture.js';

describe('second-stage-only translation', () => {
  it('walks 4 levels for a request without PASID (RID_PASID 0) with 4 KiB, 2 MiB and 1 GiB pages', () => {
    const f = hwFixture();
    const ss = f.alloc();
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n });
    f.w.ssMap(ss, 4, 0x12345, 0x777, 1);
    f.w.ssMap(ss, 4, 0x400, 0x2000, 2); // 2 MiB at IOVA 4 MiB -> 32 MiB
    f.w.ssMap(ss, 4, 0x80000, 0x40000, 3); // 1 GiB at IOVA 2 GiB -> 1 GiB (beyond RAM: translation still answers)
    expect(f.hw.translate(RID, NO_PASID, 0x12345, DMA_READ)).toBe(0x777);
    expect(f.hw.translate(RID, NO_PASID, 0x400 + 0x1ff, DMA_WRITE)).toBe(0x2000 + 0x1ff);
    expect(f.hw.translate(RID, NO_PASID, 0x80000 + 0x3ffff, DMA_READ)).toBe(0x40000 + 0x3ffff);
    // The IOTLB now holds one entry per page size; a second request hits.
    const hits = f.hw.tlbs.iotlb.stats.hits;
    expect(f.hw.translate(RID, NO_PASID, 0x400 + 7, DMA_READ)).toBe(0x2007);
    expect(f.hw.tlbs.iotlb.stats.hits).toBe(hits + 1);
  });

  it('walks 3 and 5 levels per the PASID entry AW', () => {
    const f = hwFixture({ addressWidth: 57 });
    const ss3 = f.alloc();
    const ss5 = f.alloc();
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 1, did: 5, ssptptr: BigInt(ss3) * 4096n });
    f.w.ssMap(ss3, 3, 0x7_ffff_ff, 0x321, 1);
    expect(f.hw.translate(RID, NO_PASID, 0x7_ffff_ff, DMA_READ)).toBe(0x321);
    f.w.setPasidEntry(0x0200, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 3, did: 6, ssptptr: BigInt(ss5) * 4096n });
    const high = 2 ** 44 + 5; // bit 56 of the address: a 5-level table
    f.w.ssMap(ss5, 5, high, 0x654, 1);
    expect(f.hw.translate(0x0200, NO_PASID, high, DMA_WRITE)).toBe(0x654);
  });
});

describe('first-stage-only translation', () => {
  it('walks an x86-64 4-level table with 2 MiB and 1 GiB leaves and sets A/D', () => {
    const f = hwFixture();
    const pt = new X86PageTable(f.mem, f.alloc, 4);
    f.w.setPasidEntry(RID, 3, { present: true, pgtt: PASID_ENTRY_PGTT_FL_ONLY, did: 1, fsptptr: BigInt(pt.root) * 4096n });
    pt.map(0x10, 0x900, 1, { write: true, user: true });
    pt.map(0x200, 0xa00, 2, { write: false, user: true });
    pt.map(0x40000, 0x40000, 3, { write: true, user: true });
    expect(f.hw.translate(RID, 3, 0x10, DMA_WRITE)).toBe(0x900);
    expect(pt.entry(0x10, 1)![0] & 0x60).toBe(0x60); // A and D set by the walk
    expect(f.hw.translate(RID, 3, 0x200 + 3, DMA_READ)).toBe(0xa03);
    expect(pt.entry(0x200, 2)![0] & 0x60).toBe(0x20); // read: A only
    expect(f.hw.translate(RID, 3, 0x40001, DMA_READ)).toBe(0x40001);
  });

  it('walks 5-level first-stage tables (FSPM = 1) and accepts canonical upper-half addresses', () => {
    const f = hwFixture({ addressWidth: 57 });
    const pt = new X86PageTable(f.mem, f.alloc, 5);
    f.w.setPasidEntry(RID, 1, { present: true, pgtt: PASID_ENTRY_PGTT_FL_ONLY, fspm: 1, did: 1, sre: true, fsptptr: BigInt(pt.root) * 4096n });
    // Address bit 55 (page 2^43): PML5 index 0x80; bit 56 would be non-canonical in the lower half.
    pt.map(2 ** 43 + 1, 0x999, 1, { write: true, user: true });
    expect(f.hw.translate(RID, 1, 2 ** 43 + 1, DMA_READ)).toBe(0x999);
    expect(f.hw.translate(RID, 1, 2 ** 44 + 1, DMA_READ)).toBe(-1);
    expect(f.hw.lastFault().reason).toBe(0x80);
    // 0xff00_0000_0000_1000 is canonical with 57 bits: PML5 index 0x100.
    const upper = 0xff00_0000_0000_1000n >> 12n;
    pt.map(Number(upper) % 2 ** 45, 0x555, 1, { write: true, user: false });
    expect(f.hw.translate(RID, 1, Number(upper), DMA_READ | 8)).toBe(0x555);
  });
});

describe('pass-through and disabled translation', () => {
  it('returns the input page for PGTT pass-through and when TE is off', () => {
    const f = hwFixture();
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_PT, aw: 2, did: 1 });
    expect(f.hw.translate(RID, NO_PASID, 0x4321, DMA_WRITE)).toBe(0x4321);
    f.hw.write32(0x18, 0);
    expect(f.hw.translationEnabled).toBe(false);
    expect(f.hw.translate(0x0300, NO_PASID, 0x99, DMA_READ)).toBe(0x99);
  });
});

describe('a DMA that faults writes nothing', () => {
  it('leaves the first page untouched when the second page does not translate', () => {
    const f = hwFixture();
    const ss = f.alloc();
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n });
    f.w.ssMap(ss, 4, 0x100, 0x3000, 1, SS.R | SS.W);
    f.w.ssMap(ss, 4, 0x101, 0x3001, 1, SS.R);
    const dev = new PciDevice({ bdf: '0000:01:00.0' }, f.mem, new Tracer());
    dev.translator = f.hw;
    expect(() => dev.dmaWrite(0x100ff0n, new Uint8Array(0x20).fill(0xab))).toThrow(/No write permission/);
    expect(f.mem.read(0x3000ff0, 16)).toEqual(new Uint8Array(16));
    dev.dmaWrite(0x100ff0n, new Uint8Array(0x10).fill(0xab));
    expect(f.mem.read(0x3000ff0, 16)).toEqual(new Uint8Array(16).fill(0xab));
  });
});
