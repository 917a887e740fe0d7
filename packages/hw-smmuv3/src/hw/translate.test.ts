import { DMA_READ, DMA_WRITE } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { cdFields, ipaView, MiB, Rig, s2Fields } from '../__tests__/rig.js';
import { STE_CFG_NESTED, STE_CFG_S1_TRANS, STE_CFG_S2_TRANS } from '../format/ste.js';

const GiB = 2 ** 30;

/** Stage 1 only: SID 3, ASID 7, CD at `cd`. */
function s1Rig(memory = 64 * MiB) {
  const r = new Rig({}, { memory });
  const pt = r.table(1);
  const cd = r.alloc() * 4096;
  r.writeCd(cd, cdFields(pt.root * 4096, 7));
  r.writeSte(3, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd) });
  return { r, pt, cd };
}

describe('stage 1 only (STE.Config 0b101)', () => {
  it('translates 4 KiB pages, 2 MiB and 1 GiB blocks', () => {
    const { r, pt } = s1Rig(2 * GiB);
    const page = r.alloc();
    pt.map(0x1234_5000 / 4096, page, 3, { write: true, user: true });
    pt.map(0x4000_0000 / 4096, 0x60_0000 / 4096, 2, { write: true, user: true });
    pt.map(0x80_0000_0000 / 4096, GiB / 4096, 1, { write: true, user: true });
    expect(r.translate(3, 0x1234_5678, DMA_READ)).toBe(page * 4096 + 0x678);
    expect(r.translate(3, 0x4012_3456, DMA_WRITE)).toBe(0x60_0000 + 0x12_3456);
    expect(r.translate(3, 0x80_3456_789a, DMA_READ)).toBe(GiB + 0x3456_789a);
    // 4 levels for the page, 3 for the 2 MiB block, 2 for the 1 GiB block
    expect(r.smmu.walker.reads).toBe(4 + 3 + 2);
    // TLB entries at the leaf's size: another address in the same 2 MiB block hits
    const before = r.smmu.tlb.cache.stats.hits;
    expect(r.translate(3, 0x401f_f000, DMA_READ)).toBe(0x60_0000 + 0x1f_f000);
    expect(r.smmu.tlb.cache.stats.hits).toBe(before + 1);
    expect(r.smmu.walker.reads).toBe(9);
  });

  it('the QEMU qtest stage-1 walk of IOVA 0x8080604567', () => {
    // qos-smmuv3: 4 levels from TTB0, non-leaf 0x8000000000000003 (table + NSTable), leaf 0x0400000000000763
    // (page, NS, AP[1], SH=ISH, AF and software bit 58) pointing at 0x0ecba000 (+ the RAM offset, 0 here).
    const r = new Rig({}, { memory: 256 * MiB });
    const tables = [r.alloc(), r.alloc(), r.alloc(), r.alloc()].map((p) => p * 4096);
    const iova = 0x80_8060_4567;
    const idx = (l: number) => Math.floor(iova / 2 ** (39 - 9 * l)) % 512;
    for (let l = 0; l < 3; l++) r.mem.setU64(tables[l]! + idx(l) * 8, BigInt(tables[l + 1]!) | 0x8000_0000_0000_0003n);
    r.mem.setU64(tables[3]! + idx(3) * 8, 0x0ecba000n | 0x0400_0000_0000_0763n);
    const cd = r.alloc() * 4096;
    r.writeCd(cd, { asid: 0x1e20, aa64: 1, v: 1, a: 1, ips: 4, epd1: 1, t0sz: 0x10, nscfg0: 1, nscfg1: 1, r: 1, ttb0: BigInt(tables[0]!) });
    r.writeSte(8, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd) });
    expect(r.translate(8, iova, DMA_WRITE)).toBe(0x0ecba567);
  });
});

describe('stage 2 only (STE.Config 0b110)', () => {
  it('translates 4 KiB, 2 MiB and 1 GiB mappings', () => {
    const r = new Rig({}, { memory: 2 * GiB });
    const pt = r.table(2, { startLevel: 0 });
    r.writeSte(5, { v: 1, config: STE_CFG_S2_TRANS, ...s2Fields(pt.root * 4096, 9) });
    const page = r.alloc();
    pt.map(0x10_0000 / 4096, page, 3, { read: true, write: true });
    pt.map(0x20_0000_0000 / 4096, 0xa0_0000 / 4096, 2, { read: true });
    pt.map(0x40_0000_0000 / 4096, GiB / 4096, 1, { read: true, write: true });
    expect(r.translate(5, 0x10_0abc, DMA_WRITE)).toBe(page * 4096 + 0xabc);
    expect(r.translate(5, 0x20_001f_f123, DMA_READ)).toBe(0xa0_0000 + 0x1f_f123);
    expect(r.translate(5, 0x40_3fff_fff8, DMA_WRITE)).toBe(GiB + 0x3fff_fff8);
  });

  it('walks concatenated start tables (40-bit IPA from level 1, two tables)', () => {
    // S2T0SZ 24 (IPA 40 bits), S2SL0 1 (level 1): 40 - 12 - 18 = 10 index bits, two 4 KiB tables
    const r = new Rig();
    const pt = r.table(2, { inputBits: 40, startLevel: 1 });
    const root = pt.root;
    r.writeSte(1, { v: 1, config: STE_CFG_S2_TRANS, s2vmid: 1, s2t0sz: 24, s2sl0: 1, s2ps: 2, s2aa64: 1, s2r: 1, s2ttb: BigInt(root * 4096) });
    const page = r.alloc();
    // IPA bit 39 selects the second concatenated table
    pt.map(0x80_4000_0000 / 4096, page, 3, { read: true });
    expect(r.translate(1, 0x80_4000_0010, DMA_READ)).toBe(page * 4096 + 0x10);
    expect(r.mem.u64((root + 1) * 4096 + 1 * 8) & 3n).toBe(3n);
  });
});

/** Guest RAM: IPA [0x4000_0000, +16 MiB) at `gpa` in RAM, mapped by a 4 KiB stage-2 table; stage 1 lives in it. */
function nestedRig(memory = 64 * MiB) {
  const r = new Rig({}, { memory });
  const ipaBase = 0x4000_0000;
  const guest = r.alloc(4096);
  const s2 = r.table(2, { startLevel: 0 });
  const mapS2 = (ipaPfn: number, pfn: number, level: 1 | 2 | 3 = 3, write = true) => s2.map(ipaPfn, pfn, level, { read: true, write });
  for (let i = 0; i < 64; i++) mapS2(ipaBase / 4096 + i, guest + i);
  let nextIpa = ipaBase / 4096;
  const view = ipaView(r.mem, ipaBase, guest * 4096);
  const s1 = r.table(1, { view, alloc: () => nextIpa++ });
  const cdIpa = nextIpa++ * 4096;
  view.write64(cdIpa, 0, 0);
  const cd = (f: Parameters<Rig['writeCd']>[1]) => r.writeCd(cdIpa - ipaBase + guest * 4096, f);
  cd(cdFields(s1.root * 4096, 0x55));
  r.writeSte(2, { v: 1, config: STE_CFG_NESTED, s1ContextPtr: BigInt(cdIpa), ...s2Fields(s2.root * 4096, 4) });
  return { r, s1, s2, mapS2, guest, ipaBase, cdIpa, cd, view };
}

describe('nested (STE.Config 0b111)', () => {
  it('walks IOVA -> IPA -> PA with every stage-1 table fetch through stage 2 (24 reads for 4x4 levels)', () => {
    const { r, s1, guest, ipaBase } = nestedRig();
    // IOVA page -> IPA ipaBase + 40 pages (already mapped by stage 2 to guest + 40)
    s1.map(0x7_0000_0000 / 4096, ipaBase / 4096 + 40, 3, { write: true, user: true });
    expect(r.translate(2, 0x7_0000_0123, DMA_WRITE)).toBe((guest + 40) * 4096 + 0x123);
    // CD pointer through stage 2 (4 reads), then 4 x (4 + 1) + 4
    expect(r.smmu.walker.reads).toBe(4 + 24);
    s1.map(0x7_0000_1000 / 4096, ipaBase / 4096 + 41, 3, { write: true, user: true });
    expect(r.translate(2, 0x7_0000_1000, DMA_READ)).toBe((guest + 41) * 4096);
    expect(r.smmu.walker.reads).toBe(28 + 24);
  });

  it('2 MiB at stage 1 over 4 KiB at stage 2 caches 4 KiB; 1 GiB over 1 GiB caches 1 GiB', () => {
    const { r, s1, mapS2 } = nestedRig(4 * GiB);
    // stage 1: 2 MiB block IOVA 0x20_0000_0000 -> IPA 0x8000_0000; stage 2 maps only 4 KiB pages there
    s1.map(0x20_0000_0000 / 4096, 0x8000_0000 / 4096, 2, { write: true, user: true });
    mapS2(0x8000_0000 / 4096 + 3, 0x0300_0000 / 4096 + 3);
    expect(r.translate(2, 0x20_0000_3abc, DMA_READ)).toBe(0x0300_3abc);
    expect([...r.smmu.tlb.cache.entries()].find((e) => e.inPfn === 0x20_0000_3000 / 4096)?.level).toBe(1);
    // stage 1: 1 GiB IOVA 0x40_0000_0000 -> IPA 0x1_0000_0000; stage 2: 1 GiB IPA -> PA 2 GiB
    s1.map(0x40_0000_0000 / 4096, 0x1_0000_0000 / 4096, 1, { write: true, user: true });
    mapS2(0x1_0000_0000 / 4096, 2 * GiB / 4096, 1);
    expect(r.translate(2, 0x40_1234_5678, DMA_WRITE)).toBe(2 * GiB + 0x1234_5678);
    const e = [...r.smmu.tlb.cache.entries()].find((x) => x.level === 3);
    expect(e?.inPfn).toBe(0x40_0000_0000 / 4096);
  });

  it('permissions combine: stage 1 writable over a read-only stage 2 is read-only', () => {
    const { r, s1, mapS2, ipaBase } = nestedRig();
    mapS2(ipaBase / 4096 + 50, 0x200, 3, false);
    s1.map(0x1000, ipaBase / 4096 + 50, 3, { write: true, user: true });
    expect(r.translate(2, 0x100_0000, DMA_READ)).toBe(0x20_0000);
    expect(r.translate(2, 0x100_0000, DMA_WRITE)).toBe(-1);
    expect(r.smmu.lastFault()).toMatchObject({ reasonName: 'F_PERMISSION', record: { s2: 1, class: 2, addr2: BigInt(ipaBase + 50 * 4096) } });
  });
});
