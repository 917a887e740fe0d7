import { A64, DMA_EXEC, DMA_PRIV, DMA_READ, DMA_WRITE, type PtMemory } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { cdFields, ipaView, MiB, Rig, s2Fields } from '../__tests__/rig.js';
import { STE_CFG_NESTED, STE_CFG_S1_TRANS, STE_CFG_S2_TRANS } from '../format/ste.js';
import { quickOut, quickWalk } from './quick-walk.js';
import { PERM_R_PRIV, PERM_R_USER, PERM_X_PRIV, PERM_X_USER, permNeeded } from './walk.js';

/** xorshift32: both rigs get the same tables and requests. */
function rng(seed: number) {
  let x = seed;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

type Rnd = (n: number) => number;

const IPA_BASE = 0x4000_0000 / 4096;
const WINDOW = 4096;
const TABLE_PAGES = 64;
const IOVA_BASE = 0x70_0000_0000 / 4096;
/** A second IOVA region (another stage-1 level-0 entry) and IPA region (IPA bit 39: another stage-2 level-0 entry). */
const IOVA_HIGH = 0x100_0000_0000 / 4096;
const IPA_HIGH = 0x80_0000_0000 / 4096;
const ACCESSES = [DMA_READ, DMA_WRITE, DMA_READ | DMA_PRIV, DMA_WRITE | DMA_PRIV, DMA_READ | DMA_EXEC, DMA_READ | DMA_EXEC | DMA_PRIV];

/** The address of the level-`level` descriptor on the way to inPfn in a 48-bit table (start level 0), or -1. */
function entryAt(mem: PtMemory, root: number, inPfn: number, level: number): number {
  const e = new Uint32Array(2);
  let table = root;
  for (let l = 0; l < level; l++) {
    mem.read64(table * 4096 + (Math.floor(inPfn / 2 ** (9 * (3 - l))) % 512) * 8, e);
    if ((e[0]! & 3) !== 3) return -1;
    table = (e[1]! & 0xffff) * 1048576 + (e[0]! >>> 12);
  }
  return table * 4096 + (Math.floor(inPfn / 2 ** (9 * (3 - level))) % 512) * 8;
}

/** Rewrites a descriptor: lo & keep | setLo, hi | setHi. */
function patch(mem: PtMemory, at: number, keep: number, setLo: number, setHi: number): void {
  const e = new Uint32Array(2);
  mem.read64(at, e);
  mem.write64(at, ((e[0]! & keep) | setLo) >>> 0, (e[1]! | setHi) >>> 0);
}

/**
 * Damages the level-2 or level-3 descriptor on the way to inPfn (or `level`): a block where a table
 * was (Access flag and stage-1 AP[1] / stage-2 read set, so that the level decides), a reserved level-3 entry, output address
 * bit 40 (past a 40-bit OAS/IPS) or bit 48 (RES0), APTable/XNTable bits.
 */
function damage(mem: PtMemory, root: number, inPfn: number, rnd: Rnd, level = 2 + rnd(2)): void {
  const at = entryAt(mem, root, inPfn, level);
  if (at < 0) return;
  const what = rnd(5);
  if (what === 0) patch(mem, at, ~A64.TABLE, A64.AF | A64.AP1_EL0, 0);
  if (what === 1) patch(mem, at, ~0, 0, 1 << 8);
  if (what === 2) patch(mem, at, ~0, 0, 1 << 16);
  if (what >= 3) patch(mem, at, ~0, 0, [A64.APTABLE0_HI, A64.APTABLE1_HI, A64.PXNTABLE_HI, A64.UXNTABLE_HI][rnd(4)]!);
}

/**
 * Guest RAM (an IPA window at `guest` in RAM) behind a stage 2 with random permissions, memory types,
 * Access flags and 2 MiB blocks; a guest stage 1 in it with random attributes, blocks and DBM; the
 * same kind of stage 1 in PA; a 40-bit stage 2 with two concatenated start tables; then damage to
 * descriptors of every table, and stage-1 table pages that stage 2 makes unreadable or Device memory.
 * SIDs: 2 nested with CD.HA/HD, 3 nested with IPS 40, 5 stage 2 only, 6 stage 1 only with IPS 40,
 * 7 stage 2 only with OAS 40, 8 stage 2 only over the concatenated tables.
 */
function build(seed: number, fast: boolean, tlb: boolean) {
  const r = new Rig({ tlb, httu: 2 }, { memory: 64 * MiB });
  r.smmu.fastWalk = fast;
  const rnd = rng(seed);
  const guest = r.alloc(WINDOW);
  const s2 = r.table(2, { startLevel: 0 });
  const s2attrs = () => ({ read: rnd(8) !== 0, write: rnd(3) !== 0, xn: rnd(4) === 0, af: rnd(12) !== 0, memAttr: rnd(6) === 0 ? 0 : 0xf });
  for (let blk = 0; blk < WINDOW / 512; blk++) {
    if (blk > 0 && rnd(3) === 0) {
      s2.map(IPA_BASE + blk * 512, guest + blk * 512, 2, s2attrs());
      continue;
    }
    for (let i = blk * 512; i < (blk + 1) * 512; i++) s2.map(IPA_BASE + i, guest + i, 3, i < TABLE_PAGES ? { read: true, write: true } : s2attrs());
  }
  const view = ipaView(r.mem, IPA_BASE * 4096, guest * 4096);
  let nextIpa = IPA_BASE + 2;
  const s1 = r.table(1, { view, alloc: () => nextIpa++ });
  const s1pa = r.table(1);
  const leaves: number[] = [];
  const tables = [
    { pt: s1, mem: view, out: () => IPA_BASE + TABLE_PAGES + rnd(WINDOW + 256) },
    { pt: s1pa, mem: r.mem, out: () => 0x200 + rnd(0x3000) },
  ];
  for (let i = 0; i < 600; i++) {
    const attrs = { write: rnd(3) !== 0, user: rnd(3) !== 0, xn: rnd(5) === 0, af: rnd(12) !== 0 };
    // Every fourth 2 MiB of IOVA holds blocks; the rest 4 KiB pages
    const iova0 = IOVA_BASE + rnd(8192);
    const level = Math.floor(iova0 / 512) % 4 === 3 ? 2 : 3;
    const span = level === 2 ? 512 : 1;
    const iova = Math.floor(iova0 / span) * span;
    const { pt, mem, out } = tables[rnd(2)]!;
    try {
      pt.map(iova, Math.floor(out() / span) * span, level, attrs);
    } catch {
      continue; // a block already covers this page
    }
    if (rnd(6) === 0) patch(mem, entryAt(mem, pt.root, iova, level), ~0, 0, A64.DBM_HI); // writable-clean when AP[2] is set
    leaves.push(iova + rnd(span));
  }
  // Leaves up high, then blocks in place of the level-0 or level-1 tables there.
  for (let i = 0; i < 16; i++) {
    s2.map(IPA_HIGH + i, guest + TABLE_PAGES + i, 3, { read: true, write: true });
    s1.map(IOVA_HIGH + i, IPA_HIGH + i, 3, { write: true, user: true });
    s1pa.map(IOVA_HIGH + i, 0x400 + i, 3, { write: true, user: true });
    s1.map(IOVA_BASE + 8192 + i, IPA_HIGH + i, 3, { write: true });
    leaves.push(IOVA_HIGH + i, IOVA_BASE + 8192 + i);
  }
  const block = () => 0;
  damage(view, s1.root, IOVA_HIGH, block, rnd(2));
  damage(r.mem, s1pa.root, IOVA_HIGH, block, rnd(2));
  damage(r.mem, s2.root, IPA_HIGH, block, rnd(2));
  for (let i = 0; i < 16; i++) {
    damage(view, s1.root, leaves[rnd(leaves.length)]!, rnd);
    damage(r.mem, s1pa.root, leaves[rnd(leaves.length)]!, rnd);
    damage(r.mem, s2.root, IPA_BASE + 512 + rnd(WINDOW - 512), rnd, rnd(4) === 0 ? 2 : 3);
  }
  // Every APTable/XNTable bit in a level-2 table descriptor of each stage-1 table.
  for (const bit of [A64.APTABLE0_HI, A64.APTABLE1_HI, A64.PXNTABLE_HI, A64.UXNTABLE_HI]) {
    for (const { pt, mem } of [...tables, ...tables]) {
      const at = entryAt(mem, pt.root, leaves[rnd(leaves.length)]!, 2);
      const e = new Uint32Array(2);
      if (at >= 0 && (mem.read64(at, e), (e[0]! & 3) === 3)) patch(mem, at, ~0, 0, bit);
    }
  }
  // Stage-1 table pages (the first five hold the CDs and the tables near the root) that stage 2 spoils.
  const e = new Uint32Array(2);
  for (const attrs of [{ read: false }, { read: true, memAttr: 0 }, { read: true, af: false }]) {
    // The level-3 table on the way to a random leaf
    const at = entryAt(view, s1.root, leaves[rnd(leaves.length)]!, 2);
    if (at < 0 || (view.read64(at, e), (e[0]! & 3) !== 3)) continue;
    const page = (e[0]! >>> 12) - IPA_BASE;
    if (page >= 6 && page < TABLE_PAGES) s2.map(IPA_BASE + page, guest + page, 3, attrs);
  }
  // 40-bit IPA from level 1: two concatenated tables, the second for IPA bit 39.
  const root = r.alloc(2);
  let roots = 0;
  const s2c = r.table(2, { inputBits: 40, startLevel: 1, alloc: () => (roots < 2 ? root + roots++ : r.alloc()) });
  for (let i = 0; i < 64; i++) {
    s2c.map(IPA_BASE + i * 7, guest + i, 3, s2attrs());
    s2c.map(IPA_HIGH + i * 5, guest + 64 + i, 3, s2attrs());
  }
  const cdIpa = IPA_BASE * 4096;
  r.writeCd(guest * 4096, { ...cdFields(s1.root * 4096, 1), ha: 1, hd: 1 });
  r.writeCd(guest * 4096 + 64, { ...cdFields(s1.root * 4096, 2), ips: 2 });
  const cdPa = r.alloc() * 4096;
  r.writeCd(cdPa, { ...cdFields(s1pa.root * 4096, 3), ha: 1, hd: rnd(2), ips: 2 });
  r.writeSte(2, { v: 1, config: STE_CFG_NESTED, s1ContextPtr: BigInt(cdIpa), ...s2Fields(s2.root * 4096, 4) });
  r.writeSte(3, { v: 1, config: STE_CFG_NESTED, s1ContextPtr: BigInt(cdIpa + 64), ...s2Fields(s2.root * 4096, 4) });
  r.writeSte(5, { v: 1, config: STE_CFG_S2_TRANS, ...s2Fields(s2.root * 4096, 4) });
  r.writeSte(6, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cdPa) });
  r.writeSte(7, { v: 1, config: STE_CFG_S2_TRANS, ...s2Fields(s2.root * 4096, 5), s2t0sz: 24, s2ps: 2 });
  r.writeSte(8, { v: 1, config: STE_CFG_S2_TRANS, ...s2Fields(s2c.root * 4096, 6), s2t0sz: 24, s2sl0: 1, s2ps: 2 });
  return { r, leaves };
}

/** A request: mostly mapped pages; some unmapped ones, and stage-2 inputs past a 48-bit IPA. */
function request(rnd: Rnd, leaves: number[]): { sid: number; pfn: number; access: number } {
  const sid = [2, 3, 5, 6, 7, 8][rnd(6)]!;
  const roll = rnd(16);
  const access = ACCESSES[rnd(ACCESSES.length)]!;
  if (sid < 5 || sid === 6) return { sid, pfn: roll < 3 ? IOVA_BASE + rnd(8192 + 16) : leaves[rnd(leaves.length)]!, access };
  if (roll === 0) return { sid, pfn: 2 ** 36 + IPA_BASE + rnd(64), access };
  if (sid === 8 && roll > 4) return { sid, pfn: roll < 10 ? IPA_BASE + 7 * rnd(64) : IPA_HIGH + 5 * rnd(64), access };
  return { sid, pfn: (roll < 4 ? IPA_HIGH : IPA_BASE) + rnd(roll < 4 ? 512 : WINDOW + 64), access };
}

describe('the fast walk path', () => {
  it.each([
    [1, false],
    [0xbeef, false],
    [20260514, false],
    [77, true],
    [5, true],
  ])('gives what the Walker alone gives: pages, faults, event records, reads, A/D writes, TLB entries (seed %i, TLB %s)', (seed, tlb) => {
    const { r: fast } = build(seed, true, tlb);
    const { r: slow, leaves } = build(seed, false, tlb);
    const rnd = rng(seed * 7 + 1);
    let taken = 0;
    let declined = 0;
    for (let n = 0; n < 5000; n++) {
      const { sid, pfn, access } = request(rnd, leaves);
      // Both rigs fetch the configuration first, so that a translation's reads are its walk's.
      const [sc, cd] = [fast, slow].map((x) => {
        const st = x.smmu.configCache.stream(sid)!;
        return [st, st.s1 ? x.smmu.configCache.cd(st, 0) : null] as const;
      })[1]!;
      // The fast path alone, on the Walker-only rig before its walk may write A/D bits.
      const q = sc.s1 && cd === null ? -1 : quickWalk(slow.mem.chunks32, sc, cd, pfn, permNeeded(access));
      const ra = fast.smmu.walker.reads;
      const rb = slow.smmu.walker.reads;
      const a = fast.smmu.translate(sid, -1, pfn, access);
      const b = slow.smmu.translate(sid, -1, pfn, access);
      const fa = a < 0 ? fast.smmu.lastFault() : null;
      const fb = b < 0 ? slow.smmu.lastFault() : null;
      const got = [sid, pfn, access, a, fa?.reasonName, fa?.record, fast.smmu.walker.reads - ra];
      expect(got).toEqual([sid, pfn, access, b, fb?.reasonName, fb?.record, slow.smmu.walker.reads - rb]);
      if (n % 8 === 0) expect(fast.events()).toEqual(slow.events());
      if (q >= 0) {
        taken++;
        expect(q < 64 * MiB / 4096 ? q : -1).toBe(b); // a page past RAM is an external abort, not an SMMU matter
      } else declined++;
    }
    // Both paths are exercised; the same events were recorded and the same A/D bits written.
    expect(taken).toBeGreaterThan(1000);
    expect(declined).toBeGreaterThan(1000);
    expect(fast.events()).toEqual(slow.events());
    expect([...fast.smmu.tlb.cache.entries()]).toEqual([...slow.smmu.tlb.cache.entries()]);
    for (let pa = 0; pa < 64 * MiB; pa += 2 * MiB) expect(Buffer.from(fast.mem.read(pa, 2 * MiB)).equals(Buffer.from(slow.mem.read(pa, 2 * MiB)))).toBe(true);
  });
});

describe('the fast path serves the common walks itself', () => {
  /** Guest RAM IPA [1 GiB, +4 MiB) at `guest`, 4 KiB stage-2 pages; a guest stage 1; SID 2 nested, SID 4 stage 2 only (40-bit IPA, two concatenated start tables). */
  function rig() {
    const r = new Rig({ tlb: false });
    const guest = r.alloc(1024);
    const s2 = r.table(2, { startLevel: 0 });
    for (let i = 0; i < 1024; i++) s2.map(IPA_BASE + i, guest + i, 3, { read: true, write: true });
    const view = ipaView(r.mem, IPA_BASE * 4096, guest * 4096);
    let next = IPA_BASE + 1;
    const s1 = r.table(1, { view, alloc: () => next++ });
    r.writeCd(guest * 4096, cdFields(s1.root * 4096, 9));
    r.writeSte(2, { v: 1, config: STE_CFG_NESTED, s1ContextPtr: BigInt(IPA_BASE * 4096), ...s2Fields(s2.root * 4096, 3) });
    const root = r.alloc(2);
    let roots = 0;
    const s2c = r.table(2, { inputBits: 40, startLevel: 1, alloc: () => (roots < 2 ? root + roots++ : r.alloc()) });
    r.writeSte(4, { v: 1, config: STE_CFG_S2_TRANS, ...s2Fields(root * 4096, 5), s2t0sz: 24, s2sl0: 1, s2ps: 2 });
    return { r, guest, s1, s2c };
  }

  function quick(r: Rig, sid: number, pfn: number, access: number): number {
    const sc = r.smmu.configCache.stream(sid)!;
    return quickWalk(r.mem.chunks32, sc, sc.s1 ? r.smmu.configCache.cd(sc, 0) : null, pfn, permNeeded(access));
  }

  it('a nested 4 KiB page over 4 KiB stage-2 pages: 4 x (4 + 1) + 4 = 24 reads, permissions of both stages', () => {
    const { r, guest, s1 } = rig();
    s1.map(IOVA_BASE + 3, IPA_BASE + 700, 3, { write: false, user: true });
    expect(quick(r, 2, IOVA_BASE + 3, DMA_READ)).toBe(guest + 700);
    expect(quickOut.reads).toBe(24);
    expect(quickOut.pages).toBe(1);
    // AP[2] read-only at stage 1, EL0 allowed; stage 2 RW, no XN: R, X (privileged and EL0)
    expect(quickOut.perm).toBe(PERM_R_PRIV | PERM_X_PRIV | PERM_R_USER | PERM_X_USER);
    // A write is the Walker's to refuse
    expect(quick(r, 2, IOVA_BASE + 3, DMA_WRITE)).toBe(-1);
  });

  it('a stage-1 2 MiB block over 4 KiB stage-2 pages is a 4 KiB translation', () => {
    const { r, guest, s1 } = rig();
    s1.map(IOVA_BASE + 512, IPA_BASE + 512, 2, { write: true, user: true });
    // IOVA page 512 + 37 -> IPA page 512 + 37 -> guest + 549; reads: 3 stage-1 levels, each table through 4 stage-2 reads, then 4
    expect(quick(r, 2, IOVA_BASE + 512 + 37, DMA_WRITE)).toBe(guest + 549);
    expect(quickOut.reads).toBe(3 * 5 + 4);
    expect(quickOut.pages).toBe(1);
  });

  it('a stage-2 start from the second of two concatenated tables (IPA bit 39), and a 2 MiB stage-2 block', () => {
    const { r, guest, s2c } = rig();
    s2c.map(IPA_HIGH + 5, guest + 5, 3, { read: true });
    s2c.map(IPA_BASE + 512, guest + 512, 2, { read: true, write: true });
    expect(quick(r, 4, IPA_HIGH + 5, DMA_READ)).toBe(guest + 5);
    expect(quickOut.reads).toBe(3);
    expect(quick(r, 4, IPA_BASE + 512 + 100, DMA_WRITE)).toBe(guest + 612);
    expect([quickOut.reads, quickOut.pages]).toEqual([2, 512]);
  });
});
