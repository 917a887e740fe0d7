import { DMA_EXEC, DMA_PRIV, DMA_READ, DMA_WRITE } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { PASID_ENTRY_PGTT_NESTED } from '../format/pasid-entry.js';
import { SS } from '../format/ss-pte.js';
import { type Fixture, GUEST_BASE, GUEST_PAGES, guestStage1, guestStage2, hwFixture, RID } from './__tests__/fixture.js';
import type { VtdFaultRecordInfo } from './reports.js';

const PASID = 9;
const DID = 7;

function nested(f: Fixture, fsLevels: 4 | 5 = 4, ssLevels = 4, extra: Record<string, unknown> = {}) {
  const ss = guestStage2(f, ssLevels);
  const g = guestStage1(f, fsLevels);
  f.w.setPasidEntry(RID, PASID, {
    present: true,
    pgtt: PASID_ENTRY_PGTT_NESTED,
    aw: ssLevels - 2,
    did: DID,
    ssptptr: BigInt(ss) * 4096n,
    fsptptr: BigInt(g.pt.root) * 4096n,
    fspm: fsLevels - 4,
    ...extra,
  });
  return { ss, ...g };
}

function detail(f: Fixture): VtdFaultRecordInfo {
  return f.hw.lastFault().record as VtdFaultRecordInfo;
}

describe('nested translation (PGTT = 011b)', () => {
  it.each([
    [4, 4, 24],
    [5, 4, 29],
    [4, 5, 29],
    [5, 5, 35],
  ] as const)('FS %i levels x SS %i levels: GIOVA -> GPA -> HPA in %i table reads with caches off', (fsl, ssl, reads) => {
    const f = hwFixture({ addressWidth: 57 });
    const g = nested(f, fsl, ssl);
    g.pt.map(0x1234, 0x500, 1, { write: true, user: true });
    f.hw.setCaching({ iotlb: false, pagingStructure: false });
    const before = f.hw.walker.tableReads;
    expect(f.hw.translate(RID, PASID, 0x1234, DMA_READ)).toBe(GUEST_BASE + 0x500);
    // Every FS table GPA and the final GPA go through a full SS walk: fsl * (ssl + 1) + ssl.
    expect(f.hw.walker.tableReads - before).toBe(reads);
  });

  it('caches the walk: a second request hits the IOTLB, another page of the same table needs only the leaf', () => {
    const f = hwFixture();
    const g = nested(f);
    g.pt.map(0x1234, 0x500, 1, { write: true, user: true });
    g.pt.map(0x1235, 0x501, 1, { write: true, user: true });
    expect(f.hw.translate(RID, PASID, 0x1234, DMA_READ)).toBe(GUEST_BASE + 0x500);
    const reads = f.hw.walker.tableReads;
    expect(f.hw.translate(RID, PASID, 0x1234, DMA_READ)).toBe(GUEST_BASE + 0x500);
    expect(f.hw.walker.tableReads).toBe(reads);
    expect(f.hw.translate(RID, PASID, 0x1235, DMA_READ)).toBe(GUEST_BASE + 0x501);
    // PDE cache hit: the PT (HPA known), its leaf, then the final GPA: the SS PDE cache leaves one SS leaf read.
    expect(f.hw.walker.tableReads - reads).toBe(2);
  });

  it('combines page sizes: FS 2 MiB over SS 4 KiB caches 4 KiB; FS 1 GiB over SS 2 MiB caches 2 MiB', () => {
    const f = hwFixture();
    const g = nested(f);
    g.pt.map(0x200, 0x400, 2, { write: true, user: true });
    expect(f.hw.translate(RID, PASID, 0x205, DMA_WRITE)).toBe(GUEST_BASE + 0x405);
    expect(f.hw.tlbs.iotlb.level()).toBe(1);
    const ss2m = f.alloc();
    for (let g2 = 0; g2 < GUEST_PAGES; g2 += 512) f.w.ssMap(ss2m, 4, g2, GUEST_BASE + g2, 2);
    const g1 = guestStage1(f);
    g1.pt.map(0x40000, 0, 3, { write: true, user: true });
    f.w.setPasidEntry(RID, PASID + 1, { present: true, pgtt: PASID_ENTRY_PGTT_NESTED, aw: 2, did: DID + 1, ssptptr: BigInt(ss2m) * 4096n, fsptptr: BigInt(g1.pt.root) * 4096n });
    expect(f.hw.translate(RID, PASID + 1, 0x40000 + 0x623, DMA_READ)).toBe(GUEST_BASE + 0x623);
    expect(f.hw.tlbs.iotlb.level()).toBe(2);
  });

  it('sets A/D in first-stage entries through the second stage and D in the SS leaf when SSADE', () => {
    const f = hwFixture();
    const g = nested(f, 4, 4, { ssade: true });
    g.pt.map(0x10, 0x600, 1, { write: true, user: true });
    expect(f.hw.translate(RID, PASID, 0x10, DMA_WRITE)).toBe(GUEST_BASE + 0x600);
    expect(g.pt.entry(0x10, 1)![0] & 0x60).toBe(0x60);
    const leafPa = (() => {
      let t = g.ss;
      for (let l = 4; l > 1; l--) t = Number((f.mem.u64(t * 4096 + (Math.floor(0x600 / 2 ** (9 * (l - 1))) % 512) * 8) >> 12n) & 0xff_ffff_ffffn);
      return t * 4096 + (0x600 % 512) * 8;
    })();
    expect(f.mem.u64(leafPa) & 0x300n).toBe(0x300n); // SS A and D
  });
});

describe('nested permissions: effective access = first stage AND second stage', () => {
  it.each([
    ['FS read-only, write', { fsWrite: false, ssBits: SS.R | SS.W }, DMA_WRITE, 0x85, 'first'],
    ['SS read-only, write', { fsWrite: true, ssBits: SS.R }, DMA_WRITE, 0x85, 'second'],
    ['SS write-only, read', { fsWrite: true, ssBits: SS.W }, DMA_READ, 0x86, 'second'],
    ['both writable, write', { fsWrite: true, ssBits: SS.R | SS.W }, DMA_WRITE, 0, ''],
    ['FS read-only, read', { fsWrite: false, ssBits: SS.R }, DMA_READ, 0, ''],
  ])('%s', (_name, c, access, reason, stage) => {
    const f = hwFixture();
    const g = nested(f);
    g.pt.map(0x20, 0x700, 1, { write: c.fsWrite, user: true });
    f.w.ssMap(g.ss, 4, 0x700, GUEST_BASE + 0x700, 1, c.ssBits);
    const out = f.hw.translate(RID, PASID, 0x20, access);
    if (reason === 0) {
      expect(out).toBe(GUEST_BASE + 0x700);
    } else {
      expect(out).toBe(-1);
      expect(f.hw.lastFault().reason).toBe(reason);
      expect(detail(f).stage).toBe(stage);
    }
  });

  it('needs SS read on every FS table page (0x75 top level, 0x76 below) and SS write for A/D updates (0x77)', () => {
    const f = hwFixture();
    const g = nested(f);
    g.pt.map(0x30, 0x710, 1, { write: true, user: true });
    f.w.ssMap(g.ss, 4, g.pt.root, GUEST_BASE + g.pt.root, 1, SS.W);
    expect(f.hw.translate(RID, PASID, 0x30, DMA_READ)).toBe(-1);
    expect([f.hw.lastFault().reason, detail(f).level, detail(f).tableGpa]).toEqual([0x75, 4, BigInt(g.pt.root) * 4096n]);
    f.w.ssMap(g.ss, 4, g.pt.root, GUEST_BASE + g.pt.root, 1, SS.R | SS.W);
    const pdpt = Number((f.mem.u64((GUEST_BASE + g.pt.root) * 4096) >> 12n) & 0xfffffn);
    f.w.ssMap(g.ss, 4, pdpt, GUEST_BASE + pdpt, 1, SS.W);
    expect(f.hw.translate(RID, PASID, 0x30, DMA_READ)).toBe(-1);
    expect([f.hw.lastFault().reason, detail(f).level]).toEqual([0x76, 3]);
    f.w.ssMap(g.ss, 4, pdpt, GUEST_BASE + pdpt, 1, SS.R);
    // The PDPT page is read-only in stage 2 and its entry (index 0) has A clear, so the walk must write it: 0x77.
    const pdptePa = (GUEST_BASE + pdpt) * 4096;
    f.mem.setU64(pdptePa, f.mem.u64(pdptePa) & ~0x20n);
    expect(f.hw.translate(RID, PASID, 0x30, DMA_READ)).toBe(-1);
    expect([f.hw.lastFault().reason, detail(f).stage, detail(f).level]).toEqual([0x77, 'first', 3]);
  });

  it('checks U/S, XD with ERE, and WPE for supervisor requests', () => {
    const f = hwFixture({ ers: true });
    const g = nested(f, 4, 4, { sre: true, ere: true });
    g.pt.map(0x40, 0x720, 1, { write: false, user: false, xd: true });
    expect(f.hw.translate(RID, PASID, 0x40, DMA_READ)).toBe(-1);
    expect(f.hw.lastFault().reason).toBe(0x81);
    expect(f.hw.translate(RID, PASID, 0x40, DMA_READ | DMA_PRIV)).toBe(GUEST_BASE + 0x720);
    expect(f.hw.translate(RID, PASID, 0x40, DMA_READ | DMA_PRIV | DMA_EXEC)).toBe(-1);
    expect(f.hw.lastFault().reason).toBe(0x82);
    // WPE = 0: a supervisor write ignores R/W = 0.
    expect(f.hw.translate(RID, PASID, 0x40, DMA_WRITE | DMA_PRIV)).toBe(GUEST_BASE + 0x720);
    const f2 = hwFixture({ ers: true });
    const g2 = nested(f2, 4, 4, { sre: true, wpe: true });
    g2.pt.map(0x40, 0x720, 1, { write: false, user: false });
    expect(f2.hw.translate(RID, PASID, 0x40, DMA_WRITE | DMA_PRIV)).toBe(-1);
    expect(f2.hw.lastFault().reason).toBe(0x85);
  });

  it('refuses first-stage addresses beyond the second stage (0x74) and names the failing SS walk (0x79)', () => {
    const f = hwFixture();
    const g = nested(f);
    g.pt.map(0x50, 2 ** 36 + 1, 1, { write: true, user: true });
    expect(f.hw.translate(RID, PASID, 0x50, DMA_READ)).toBe(-1);
    expect(f.hw.lastFault().reason).toBe(0x74);
    g.pt.map(0x51, GUEST_PAGES + 5, 1, { write: true, user: true });
    expect(f.hw.translate(RID, PASID, 0x51, DMA_READ)).toBe(-1);
    // GPA 8197 is past the guest RAM the SS table maps: its SS-PDE (level 2) is not present.
    expect([f.hw.lastFault().reason, detail(f).stage, detail(f).level]).toEqual([0x79, 'second', 2]);
  });
});
