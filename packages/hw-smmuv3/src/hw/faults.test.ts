import { DMA_EXEC, DMA_PRIV, DMA_READ, DMA_WRITE } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { cdFields, ipaView, MiB, Rig, s2Fields } from '../__tests__/rig.js';
import { EVT, EVT_CLASS_CD, EVT_CLASS_IN, EVT_CLASS_TT } from '../format/event.js';
import { Q_OVERFLOW_FLAG } from '../format/queue.js';
import { SMMU_REG } from '../format/registers.js';
import { STE_CFG_NESTED, STE_CFG_S1_TRANS, STE_CFG_S2_TRANS, STE_S1DSS_BYPASS, STE_S1DSS_TERMINATE } from '../format/ste.js';

function s1(cd: Partial<ReturnType<typeof cdFields>> = {}) {
  const r = new Rig();
  const pt = r.table(1);
  const cdAddr = r.alloc() * 4096;
  r.writeCd(cdAddr, { ...cdFields(pt.root * 4096, 3), ...cd });
  r.writeSte(6, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cdAddr) });
  return { r, pt, cdAddr };
}

describe('stage-1 faults', () => {
  it('F_TRANSLATION for an unmapped IOVA: S2=0, CLASS=IN, the input address, RnW', () => {
    const { r } = s1();
    expect(r.translate(6, 0x5000_0000, DMA_READ)).toBe(-1);
    const [e] = r.events();
    expect(e).toMatchObject({ type: EVT.F_TRANSLATION, sid: 6, ssv: 0, s2: 0, class: EVT_CLASS_IN, rnw: 1, pnu: 0, ind: 0, addr: 0x5000_0000n, stall: 0 });
    expect(r.smmu.lastFault()).toMatchObject({ reason: 0x10, reasonName: 'F_TRANSLATION', address: 0x5000_0000n, recoverable: false });
  });

  it('F_PERMISSION for a write to a read-only page, an unprivileged access to a privileged page, an instruction fetch from XN', () => {
    const { r, pt } = s1();
    pt.map(0x10, 0x300, 3, { write: false, user: true });
    pt.map(0x11, 0x301, 3, { write: true, user: false });
    pt.map(0x12, 0x302, 3, { write: true, user: true, xn: true });
    expect(r.translate(6, 0x10_000, DMA_READ)).toBe(0x30_0000);
    expect(r.translate(6, 0x10_000, DMA_WRITE)).toBe(-1);
    expect(r.translate(6, 0x11_000, DMA_READ)).toBe(-1);
    expect(r.translate(6, 0x11_000, DMA_READ | DMA_PRIV)).toBe(0x30_1000);
    expect(r.translate(6, 0x12_000, DMA_READ | DMA_EXEC)).toBe(-1);
    const ev = r.events();
    expect(ev.map((e) => [e.type, e.rnw, e.pnu, e.ind, e.s2])).toEqual([
      [EVT.F_PERMISSION, 0, 0, 0, 0],
      [EVT.F_PERMISSION, 1, 0, 0, 0],
      [EVT.F_PERMISSION, 1, 0, 1, 0],
    ]);
  });

  it('F_ACCESS for AF=0 unless CD.AFFD; F_ADDR_SIZE for an output beyond CD.IPS', () => {
    const { r, pt, cdAddr } = s1();
    pt.map(0x20, 0x320, 3, { write: true, user: true, af: false });
    pt.map(0x21, 0x1_0000_0000 / 4096, 3, { write: true, user: true });
    expect(r.translate(6, 0x20_000, DMA_READ)).toBe(-1);
    expect(r.events()[0]).toMatchObject({ type: EVT.F_ACCESS });
    r.writeCd(cdAddr, { ...cdFields(pt.root * 4096, 3), ips: 0 });
    r.submit(r.cmd('CFGI_CD', { sid: 6 }), r.cmd('CMD_SYNC'));
    expect(r.translate(6, 0x21_000, DMA_READ)).toBe(-1);
    expect(r.events()[0]).toMatchObject({ type: EVT.F_ADDR_SIZE, s2: 0 });
    r.writeCd(cdAddr, { ...cdFields(pt.root * 4096, 3), affd: 1 });
    r.submit(r.cmd('CFGI_CD', { sid: 6 }), r.cmd('CMD_SYNC'));
    expect(r.translate(6, 0x20_000, DMA_READ)).toBe(0x32_0000);
  });

  it('F_WALK_EABT with the fetch address when a table lies outside RAM', () => {
    const { r, pt } = s1();
    const l0 = pt.root * 4096;
    r.mem.setU64(l0 + 8 * 1, 0x10_0000_0000n | 3n);
    expect(r.translate(6, 0x80_0000_0000, DMA_READ)).toBe(-1);
    expect(r.events()[0]).toMatchObject({ type: EVT.F_WALK_EABT, class: EVT_CLASS_TT, addr2: 0x10_0000_0000n });
  });

  it('CD.R=0 keeps translation faults out of the queue (the transaction still fails)', () => {
    const { r } = s1({ r: 0 });
    expect(r.translate(6, 0x9000, DMA_READ)).toBe(-1);
    expect(r.events()).toEqual([]);
    expect(r.smmu.lastFault().reasonName).toBe('F_TRANSLATION');
  });
});

describe('configuration errors', () => {
  it('C_BAD_STREAMID beyond STRTAB_BASE_CFG.LOG2SIZE, C_BAD_STE for V=0 and reserved Config', () => {
    const r = new Rig();
    expect(r.translate(256, 0, DMA_READ)).toBe(-1);
    expect(r.translate(7, 0, DMA_READ)).toBe(-1);
    r.writeSte(8, { v: 1, config: 2 });
    expect(r.translate(8, 0, DMA_READ)).toBe(-1);
    expect(r.events().map((e) => [e.type, e.sid])).toEqual([
      [EVT.C_BAD_STREAMID, 256],
      [EVT.C_BAD_STE, 7],
      [EVT.C_BAD_STE, 8],
    ]);
  });

  it('abort STEs terminate silently; bypass STEs pass addresses through', () => {
    const r = new Rig();
    r.writeSte(1, { v: 1, config: 0 });
    r.writeSte(2, { v: 1, config: 4 });
    expect(r.translate(1, 0x5000, DMA_READ)).toBe(-1);
    expect(r.translate(2, 0x5123, DMA_WRITE)).toBe(0x5123);
    expect(r.events()).toEqual([]);
  });

  it('C_BAD_CD, F_CD_FETCH, C_BAD_SUBSTREAMID and F_STREAM_DISABLED', () => {
    const r = new Rig();
    const cd = r.alloc() * 4096;
    r.writeSte(1, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd) });
    r.writeSte(2, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: 0x100_0000_0000n });
    r.writeSte(3, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd), s1cdmax: 2, s1dss: STE_S1DSS_TERMINATE });
    expect(r.translate(1, 0x1000, DMA_READ)).toBe(-1);
    expect(r.translate(2, 0x1000, DMA_READ)).toBe(-1);
    expect(r.translate(1, 0x1000, DMA_READ, 1)).toBe(-1);
    expect(r.translate(3, 0x1000, DMA_READ)).toBe(-1);
    expect(r.translate(3, 0x1000, DMA_READ, 4)).toBe(-1);
    const ev = r.events();
    expect(ev.map((e) => [e.type, e.sid, e.ssv, e.ssid])).toEqual([
      [EVT.C_BAD_CD, 1, 0, 0],
      [EVT.F_CD_FETCH, 2, 0, 0],
      [EVT.C_BAD_SUBSTREAMID, 1, 1, 1],
      [EVT.F_STREAM_DISABLED, 3, 0, 0],
      [EVT.C_BAD_SUBSTREAMID, 3, 1, 4],
    ]);
    expect(ev[1]!.addr2).toBe(0x100_0000_0000n);
  });

  it('S1DSS=bypass lets traffic without a SubstreamID skip stage 1', () => {
    const r = new Rig();
    const cd = r.alloc() * 4096;
    r.writeSte(3, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd), s1cdmax: 2, s1dss: STE_S1DSS_BYPASS });
    expect(r.translate(3, 0x7000, DMA_READ)).toBe(0x7000);
  });

  it('F_STE_FETCH when the stream table points outside RAM', () => {
    const r = new Rig();
    r.smmu.write32(SMMU_REG.CR0, 0);
    r.smmu.write64(SMMU_REG.STRTAB_BASE, 0x40_0000_0000n);
    r.smmu.write32(SMMU_REG.CR0, 0xd);
    expect(r.translate(1, 0, DMA_READ)).toBe(-1);
    expect(r.events()[0]).toMatchObject({ type: EVT.F_STE_FETCH, addr2: 0x40_0000_0040n });
  });
});

describe('nested faults say which stage and which access', () => {
  function nested() {
    const r = new Rig();
    const ipaBase = 0x4000_0000;
    const guest = r.alloc(1024);
    const s2 = r.table(2, { startLevel: 0 });
    for (let i = 0; i < 16; i++) s2.map(ipaBase / 4096 + i, guest + i, 3, { read: true, write: true });
    let next = ipaBase / 4096 + 1;
    const s1 = r.table(1, { view: ipaView(r.mem, ipaBase, guest * 4096), alloc: () => next++ });
    r.writeCd(guest * 4096, cdFields(s1.root * 4096, 9));
    r.writeSte(4, { v: 1, config: STE_CFG_NESTED, s1ContextPtr: BigInt(ipaBase), ...s2Fields(s2.root * 4096, 3) });
    return { r, s1, s2, ipaBase, guest };
  }

  it('a stage-2 fault on the CD fetch: S2=1, CLASS=CD, the CD IPA', () => {
    const { r, s2, ipaBase } = nested();
    s2.unmap(ipaBase / 4096);
    expect(r.translate(4, 0x1000, DMA_READ)).toBe(-1);
    expect(r.events()[0]).toMatchObject({ type: EVT.F_TRANSLATION, s2: 1, class: EVT_CLASS_CD, addr2: BigInt(ipaBase) });
  });

  it('a stage-2 fault on a stage-1 table fetch: S2=1, CLASS=TT, the table IPA', () => {
    const { r, s1, s2, ipaBase } = nested();
    s1.map(0x123, ipaBase / 4096 + 10, 3, { write: true, user: true });
    const l1Ipa = ipaBase + 2 * 4096;
    s2.unmap(l1Ipa / 4096);
    expect(r.translate(4, 0x12_3000, DMA_WRITE)).toBe(-1);
    expect(r.events()[0]).toMatchObject({ type: EVT.F_TRANSLATION, s2: 1, class: EVT_CLASS_TT, ttrnw: 1, rnw: 0, addr: 0x12_3000n, addr2: BigInt(l1Ipa) });
  });

  it('a stage-2 fault on the output IPA: S2=1, CLASS=IN, the IPA', () => {
    const { r, s1, ipaBase } = nested();
    s1.map(0x124, ipaBase / 4096 + 200, 3, { write: true, user: true });
    expect(r.translate(4, 0x12_4008, DMA_READ)).toBe(-1);
    expect(r.events()[0]).toMatchObject({ type: EVT.F_TRANSLATION, s2: 1, class: EVT_CLASS_IN, addr: 0x12_4000n, addr2: BigInt(ipaBase + 200 * 4096) });
  });

  it('S2R=0 keeps stage-2 faults out of the queue; S2PTW refuses a table in Device memory', () => {
    const r = new Rig();
    const s2 = r.table(2, { startLevel: 0 });
    r.writeSte(5, { v: 1, config: STE_CFG_S2_TRANS, ...s2Fields(s2.root * 4096, 2), s2r: 0 });
    expect(r.translate(5, 0x1000, DMA_READ)).toBe(-1);
    expect(r.events()).toEqual([]);
    const n = nested();
    n.s2.map(n.ipaBase / 4096 + 1, n.guest + 1, 3, { read: true, write: true, memAttr: 0x1 });
    expect(n.r.translate(4, 0x1000, DMA_READ)).toBe(-1);
    expect(n.r.events()[0]).toMatchObject({ type: EVT.F_PERMISSION, s2: 1, class: EVT_CLASS_TT });
  });
});

describe('the event queue', () => {
  it('wraps, and on overflow discards records and toggles EVENTQ_PROD.OVFLG once', () => {
    const s = new Rig({}, { evtqLog2: 1 });
    for (let i = 0; i < 3; i++) s.translate(100 + i, 0, DMA_READ);
    // two entries: the third record is lost
    expect(s.smmu.evtqStats).toMatchObject({ written: 2, lost: 1 });
    const prod = s.smmu.read32(SMMU_REG.EVENTQ_PROD);
    expect(prod & Q_OVERFLOW_FLAG).not.toBe(0);
    // still overflowing: no second toggle
    s.translate(110, 0, DMA_READ);
    expect(s.smmu.read32(SMMU_REG.EVENTQ_PROD) & Q_OVERFLOW_FLAG).not.toBe(0);
    // drain and acknowledge (events() copies OVFLG into OVACKFLG), then records flow again, across the wrap
    expect(s.events().map((e) => e.sid)).toEqual([100, 101]);
    s.translate(111, 0, DMA_READ);
    s.translate(112, 0, DMA_READ);
    expect(s.events().map((e) => e.sid)).toEqual([111, 112]);
    expect(s.smmu.read32(SMMU_REG.EVENTQ_PROD) & 7).toBe(0);
  });

  it('drops events while EVENTQ is disabled', () => {
    const r = new Rig();
    r.smmu.write32(SMMU_REG.CR0, 0x9);
    r.translate(1, 0, DMA_READ);
    expect(r.smmu.evtqStats.dropped).toBe(1);
    expect(r.smmu.read32(SMMU_REG.EVENTQ_PROD)).toBe(0);
  });

  it('raises the EVTQ interrupt after writing a record', () => {
    const r = new Rig();
    const seen: number[] = [];
    r.smmu.setIrqHandler('evtq', () => seen.push(r.events().length));
    r.translate(9, 0, DMA_READ);
    expect(seen).toEqual([1]);
  });
});

describe('SMMUEN=0', () => {
  it('follows GBPA: abort by default, bypass once GBPA.ABORT is cleared', () => {
    const r = new Rig({}, { memory: 8 * MiB });
    r.smmu.write32(SMMU_REG.CR0, 0);
    expect(r.translate(1, 0x2000, DMA_READ)).toBe(-1);
    r.smmu.write32(SMMU_REG.GBPA, 0x8000_0000);
    expect(r.translate(1, 0x2000, DMA_READ)).toBe(0x2000);
    // beyond RAM: an external abort on the bus
    expect(r.translate(1, 0x4000_0000, DMA_READ)).toBe(-1);
    expect(r.events()).toEqual([]);
  });
});
