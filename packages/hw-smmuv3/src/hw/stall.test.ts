import { DMA_WRITE } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { cdFields, Rig } from '../__tests__/rig.js';
import { EVT } from '../format/event.js';
import { STE_CFG_S1_TRANS } from '../format/ste.js';

describe('stall model (IDR0.STALL_MODEL 0)', () => {
  it('a stage-1 fault with CD.S stalls: Stall=1 and a STAG in the record, retired by RESUME', () => {
    const r = new Rig({ stallModel: 0 });
    const pt = r.table(1);
    const cd = r.alloc() * 4096;
    r.writeCd(cd, { ...cdFields(pt.root * 4096, 1), s: 1, r: 0 });
    r.writeSte(2, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd) });
    expect(r.translate(2, 0x4000, DMA_WRITE)).toBe(-1);
    expect(r.smmu.lastFault()).toMatchObject({ reasonName: 'F_TRANSLATION', recoverable: true });
    // stalled faults are recorded even with CD.R = 0
    const [e] = r.events();
    expect(e).toMatchObject({ type: EVT.F_TRANSLATION, stall: 1, stag: 0, rnw: 0 });
    expect([...r.smmu.stalls.keys()]).toEqual([0]);
    r.submit(r.cmd('RESUME', { sid: 2, stag: 0, action: 1 }), r.cmd('CMD_SYNC'));
    expect(r.smmu.stalls.size).toBe(0);
  });

  it('STE.S1STALLD turns stalling off for the stream', () => {
    const r = new Rig({ stallModel: 0 });
    const pt = r.table(1);
    const cd = r.alloc() * 4096;
    r.writeCd(cd, { ...cdFields(pt.root * 4096, 1), s: 1 });
    r.writeSte(2, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd), s1stalld: 1 });
    r.translate(2, 0x4000, DMA_WRITE);
    expect(r.events()[0]).toMatchObject({ stall: 0 });
    expect(r.smmu.stalls.size).toBe(0);
  });
});
