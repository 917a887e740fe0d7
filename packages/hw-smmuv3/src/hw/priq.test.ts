import { DMA_ATS, DMA_READ, DMA_WRITE, PciDevice, PRG_RESPONSE_FAILURE, PRG_RESPONSE_INVALID, PRG_RESPONSE_SUCCESS, PRG_RESPONSE_TIMEOUT } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { cdFields, Rig, s2Fields } from '../__tests__/rig.js';
import { EVT } from '../format/event.js';
import { PriqRecord } from '../format/priq.js';
import { Q_OVERFLOW_FLAG, queueIdx } from '../format/queue.js';
import { CR0_CMDQEN, CR0_EVTQEN, CR0_PRIQEN, CR0_SMMUEN, GERROR_PRIQ_ABT_ERR, IRQ_CTRL_EVTQ_IRQEN, IRQ_CTRL_GERROR_IRQEN, IRQ_CTRL_PRIQ_IRQEN, SMMU_REG } from '../format/registers.js';
import { STE_CFG_NESTED, STE_CFG_S1_TRANS, STE_EATS_TRANS } from '../format/ste.js';

const ALL_ON = CR0_SMMUEN | CR0_CMDQEN | CR0_EVTQEN | CR0_PRIQEN;

/** A rig with a PRI queue of 2^log2 records and a PRI-capable device at 00:00.2 (StreamID 2). */
function priRig(log2 = 3, cfg = {}) {
  const r = new Rig(cfg);
  const priq = r.alloc() * 4096;
  const s = r.smmu;
  s.write32(SMMU_REG.CR0, CR0_SMMUEN | CR0_CMDQEN | CR0_EVTQEN);
  s.write64(SMMU_REG.PRIQ_BASE, BigInt(priq) | BigInt(log2));
  s.write32(SMMU_REG.IRQ_CTRL, IRQ_CTRL_EVTQ_IRQEN | IRQ_CTRL_GERROR_IRQEN | IRQ_CTRL_PRIQ_IRQEN);
  s.write32(SMMU_REG.CR0, ALL_ON);
  const dev = new PciDevice({ bdf: '0000:00:00.2', pasidBits: 20, ats: true, pri: true }, r.mem, r.trace);
  dev.translator = s;
  dev.priEnabled = true;
  const irqs: number[] = [];
  s.setIrqHandler('priq', () => irqs.push(s.read32(SMMU_REG.PRIQ_PROD)));
  /** Pops every record between PRIQ_CONS and PROD. */
  const records = () => {
    const out: ReturnType<typeof PriqRecord.decode>[] = [];
    let cons = s.read32(SMMU_REG.PRIQ_CONS);
    const prod = s.read32(SMMU_REG.PRIQ_PROD);
    const mask = 2 ** (log2 + 1) - 1;
    while ((cons & mask) !== (prod & mask)) {
      out.push(PriqRecord.decode(r.readDwords(priq + queueIdx(cons, log2) * 16, 2)));
      cons = (cons & mask) + 1;
    }
    s.write32(SMMU_REG.PRIQ_CONS, ((cons & mask) | (prod & Q_OVERFLOW_FLAG)) >>> 0);
    return out;
  };
  return { r, s, dev, priq, irqs, records };
}

describe('the PRI queue (IHI0070 8)', () => {
  it('a page request is a record at PRIQ_PROD and a PRIQ interrupt; CMD_PRI_RESP answers the device', () => {
    const { r, s, dev, priq, irqs } = priRig();
    // The driver's handler answers from inside the interrupt: Resp 2 (success) for the group it read.
    s.setIrqHandler('priq', () => {
      irqs.push(s.read32(SMMU_REG.PRIQ_PROD));
      const rec = PriqRecord.decode(r.readDwords(priq, 2));
      r.submit(r.cmd('PRI_RESP', { sid: rec.sid, ssv: rec.ssv, ssid: rec.ssid, prgIndex: rec.prgIndex, resp: 2 }));
    });
    expect(dev.pageRequest(0x7f00_1234_5000n, DMA_WRITE, { pasid: 9 })).toBe(PRG_RESPONSE_SUCCESS);
    // SID 2; SSID 9 in [51:32]; Write 61 | Last 62 | SSV 63 = 0xe000_0009_0000_0002. PRG index 0, the page address.
    expect(r.readDwords(priq, 2)).toEqual([0xe000_0009_0000_0002n, 0x7f00_1234_5000n]);
    expect(irqs).toEqual([1]);
    expect(s.priq.stats).toMatchObject({ received: 1, written: 1, responses: 1, autoResponses: 0 });
  });

  it('Resp 1 is Invalid Request, Resp 0 Response Failure; a response without SSV does not satisfy a PASID request', () => {
    const { r, dev, records } = priRig();
    const answer = (resp: number, ssv: number) => {
      r.smmu.setIrqHandler('priq', () => {
        const [rec] = records();
        r.submit(r.cmd('PRI_RESP', { sid: rec!.sid, ssv, ssid: rec!.ssid, prgIndex: rec!.prgIndex, resp }));
      });
      return dev.pageRequest(0x4000n, DMA_READ, { pasid: 3 });
    };
    expect(answer(1, 1)).toBe(PRG_RESPONSE_INVALID);
    expect(answer(0, 1)).toBe(PRG_RESPONSE_FAILURE);
    expect(answer(2, 0)).toBe(PRG_RESPONSE_TIMEOUT);
    // PRG indexes follow the device's counter: 0, 1, 2.
    expect(dev.pageResponses).toBe(3);
  });

  it('the interrupt follows IRQ_CTRL.PRIQ_IRQEN; the record is written either way', () => {
    const { s, dev, irqs, records } = priRig();
    s.write32(SMMU_REG.IRQ_CTRL, IRQ_CTRL_EVTQ_IRQEN);
    expect(dev.pageRequest(0x1000n, DMA_READ)).toBe(PRG_RESPONSE_TIMEOUT);
    expect(irqs).toEqual([]);
    // Without a PASID: SSV 0, SSID 0; Read 60 | Last 62 = 0x5000_0000_0000_0002
    expect(records().map((x) => [x.sid, x.ssv, x.read, x.write, x.last, x.addr])).toEqual([[2, 0, 1, 0, 1, 0x1000n]]);
  });

  it('overflow: a full queue discards, toggles OVFLG once per episode, and answers the group Success itself', () => {
    const { s, dev, records } = priRig(1);
    expect(dev.pageRequest(0x1000n, DMA_READ, { pasid: 1 })).toBe(PRG_RESPONSE_TIMEOUT);
    expect(dev.pageRequest(0x2000n, DMA_READ, { pasid: 1 })).toBe(PRG_RESPONSE_TIMEOUT);
    // Two entries (log2 1): PROD = 2 = index 0 with the wrap bit, full. The third is lost.
    expect(s.read32(SMMU_REG.PRIQ_PROD)).toBe(2);
    // Without STE.PPAR the automatic response carries no PASID: this device, which needs it, never sees an answer.
    expect(dev.pageRequest(0x3000n, DMA_READ, { pasid: 1 })).toBe(PRG_RESPONSE_TIMEOUT);
    expect(s.read32(SMMU_REG.PRIQ_PROD)).toBe((Q_OVERFLOW_FLAG | 2) >>> 0);
    expect(dev.pageRequest(0x4000n, DMA_READ)).toBe(PRG_RESPONSE_SUCCESS);
    expect(s.read32(SMMU_REG.PRIQ_PROD)).toBe((Q_OVERFLOW_FLAG | 2) >>> 0);
    expect(s.priq.stats).toMatchObject({ received: 4, written: 2, lost: 2, autoResponses: 2 });
    // Software drains and acknowledges (OVACKFLG = OVFLG); the next overflow toggles OVFLG back.
    expect(records().map((x) => x.addr)).toEqual([0x1000n, 0x2000n]);
    expect(s.read32(SMMU_REG.PRIQ_CONS)).toBe((Q_OVERFLOW_FLAG | 2) >>> 0);
    for (let i = 0; i < 3; i++) dev.pageRequest(0x5000n, DMA_READ);
    expect(s.read32(SMMU_REG.PRIQ_PROD)).toBe(0);
  });

  it('with STE.PPAR the automatic response carries the PASID', () => {
    const { r, dev } = priRig(0);
    r.writeSte(2, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(r.alloc() * 4096), ppar: 1 });
    dev.pageRequest(0x1000n, DMA_READ, { pasid: 4 });
    expect(dev.pageRequest(0x2000n, DMA_READ, { pasid: 4 })).toBe(PRG_RESPONSE_SUCCESS);
  });

  it('PRIQEN clear: requests are dropped and a group is answered Response Failure', () => {
    const { s, dev } = priRig();
    s.write32(SMMU_REG.CR0, CR0_SMMUEN | CR0_CMDQEN | CR0_EVTQEN);
    expect(dev.pageRequest(0x1000n, DMA_READ)).toBe(PRG_RESPONSE_FAILURE);
    expect(s.priq.stats).toMatchObject({ dropped: 1, written: 0 });
  });

  it('PRIQ_BASE and PRIQ_PROD are read-only while PRIQEN is set; LOG2SIZE is capped at IDR1.PRIQS', () => {
    const { s, priq } = priRig(3, { priqs: 2 });
    s.write64(SMMU_REG.PRIQ_BASE, 0x1234_0000n);
    s.write32(SMMU_REG.PRIQ_PROD, 5);
    expect(s.read64(SMMU_REG.PRIQ_BASE)).toBe(BigInt(priq) | 3n);
    expect(s.regs.priqLog2).toBe(2);
    expect(s.read32(SMMU_REG.PRIQ_PROD)).toBe(0);
  });

  it('a queue outside memory is a PRIQ write abort (GERROR.PRIQ_ABT_ERR)', () => {
    const { s, dev } = priRig();
    s.write32(SMMU_REG.CR0, CR0_SMMUEN | CR0_CMDQEN | CR0_EVTQEN);
    s.write64(SMMU_REG.PRIQ_BASE, 0x40_0000_0000n | 3n);
    s.write32(SMMU_REG.CR0, ALL_ON);
    dev.pageRequest(0x1000n, DMA_READ);
    expect((s.read32(SMMU_REG.GERROR) ^ s.read32(SMMU_REG.GERRORN)) & GERROR_PRIQ_ABT_ERR).toBe(GERROR_PRIQ_ABT_ERR);
    expect(s.read32(SMMU_REG.PRIQ_PROD)).toBe(0);
  });

  it('CMD_PRI_RESP with the reserved Resp 3, or on an SMMU without PRI, is CERROR_ILL', () => {
    for (const [cfg, resp] of [[{}, 3], [{ pri: false }, 2]] as const) {
      const { r, s } = priRig(3, cfg);
      r.submit(r.cmd('PRI_RESP', { sid: 2, resp }));
      expect((s.read32(SMMU_REG.CMDQ_CONS) >>> 24) & 0x7f).toBe(1);
    }
  });

  it('without IDR0.PRI a page request goes nowhere', () => {
    const { s, dev } = priRig(3, { pri: false });
    expect(dev.pageRequest(0x1000n, DMA_READ)).toBe(PRG_RESPONSE_TIMEOUT);
    expect(s.priq.stats.received).toBe(0);
  });
});

describe('ATS translation requests', () => {
  function ats(eats: number) {
    const r = new Rig();
    const pt = r.table(1);
    const cd = r.alloc() * 4096;
    r.writeCd(cd, cdFields(pt.root * 4096, 1));
    r.writeSte(2, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd), eats });
    return { r, pt };
  }

  it('stage-1 translation, access and permission faults are "no access" without an event, and recoverable', () => {
    const { r, pt } = ats(STE_EATS_TRANS);
    pt.map(0x11, 0x311, 3, { write: false, user: true });
    pt.map(0x12, 0x312, 3, { write: true, user: true, af: false });
    expect(r.translate(2, 0x10_000, DMA_WRITE | DMA_ATS)).toBe(-1);
    expect(r.smmu.lastFault()).toMatchObject({ reasonName: 'F_TRANSLATION', recoverable: true });
    expect(r.translate(2, 0x11_000, DMA_WRITE | DMA_ATS)).toBe(-1);
    expect(r.smmu.lastFault()).toMatchObject({ reasonName: 'F_PERMISSION', recoverable: true });
    expect(r.translate(2, 0x12_000, DMA_READ | DMA_ATS)).toBe(-1);
    expect(r.smmu.lastFault()).toMatchObject({ reasonName: 'F_ACCESS', recoverable: true });
    expect(r.events()).toEqual([]);
    // The same access without ATS is an ordinary, recorded fault.
    expect(r.translate(2, 0x10_000, DMA_WRITE)).toBe(-1);
    expect(r.events().map((e) => e.type)).toEqual([EVT.F_TRANSLATION]);
    expect(r.translate(2, 0x11_000, DMA_READ | DMA_ATS)).toBe(0x31_1000);
  });

  it('EATS 0: F_BAD_ATS_TREQ is recorded and nothing is recoverable', () => {
    const { r, pt } = ats(0);
    pt.map(0x11, 0x311, 3, { write: true, user: true });
    expect(r.translate(2, 0x11_000, DMA_READ | DMA_ATS)).toBe(-1);
    expect(r.smmu.lastFault()).toMatchObject({ reasonName: 'F_BAD_ATS_TREQ', recoverable: false });
    expect(r.events()).toMatchObject([{ type: EVT.F_BAD_ATS_TREQ, sid: 2, addr: 0x11_000n, rnw: 1 }]);
    expect(r.translate(2, 0x11_000, DMA_READ)).toBe(0x31_1000);
  });

  it('a stage-2 fault under a nested stream is recorded even for ATS: a page request cannot fix it', () => {
    const r = new Rig();
    const s2 = r.table(2, { startLevel: 0 });
    const s1 = r.table(1);
    const cd = r.alloc() * 4096;
    r.writeCd(cd, cdFields(s1.root * 4096, 1));
    s1.map(0x10, 0x900, 3, { write: true, user: true });
    // Identity stage 2 over the rig's pages (tables, CD); nothing at IPA 0x900_000.
    for (let p = 0x100; p < 0x180; p++) s2.map(p, p, 3, { read: true, write: true });
    r.writeSte(2, { v: 1, config: STE_CFG_NESTED, s1ContextPtr: BigInt(cd), eats: STE_EATS_TRANS, ...s2Fields(s2.root * 4096, 1) });
    expect(r.translate(2, 0x10_000, DMA_READ | DMA_ATS)).toBe(-1);
    expect(r.smmu.lastFault()).toMatchObject({ recoverable: false });
    expect(r.events()).toMatchObject([{ type: EVT.F_TRANSLATION, s2: 1 }]);
  });
});
