import { DMA_READ, NO_PASID } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { IotlbInvDesc } from '../format/inv-desc.js';
import { PASID_ENTRY_PGTT_NESTED, PASID_ENTRY_PGTT_SL_ONLY } from '../format/pasid-entry.js';
import { GUEST_BASE, guestStage1, guestStage2, hwFixture, queue, RID } from './__tests__/fixture.js';

describe('the missing-invalidation detector', () => {
  it('reports a cached translation that differs from the tables, with the current entry', () => {
    const f = hwFixture({ detector: true });
    f.hw.detector.enabled = true;
    const q = queue(f);
    const ss = f.alloc();
    const leaf = f.w.ssMap(ss, 4, 0x40, 0x600, 1);
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n });
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x600);
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x600);
    expect(f.hw.detector.reports).toEqual([]);
    f.mem.setU64(leaf, (0x700n << 12n) | 3n);
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x600);
    expect(f.hw.detector.reports).toHaveLength(1);
    expect(f.hw.detector.reports[0]).toMatchObject({
      rid: RID,
      did: 5,
      pasid: 0,
      iova: 0x40000n,
      cached: { pfn: 0x600, level: 1 },
      fresh: { pfn: 0x700, level: 1 },
      entries: [{ stage: 'second', level: 1, pa: leaf, value: 0x700003n }],
    });
    q.submit(IotlbInvDesc.encode({ type: 2, g: 3, did: 5, addr: 0x40000n }));
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x700);
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x700);
    expect(f.hw.detector.reports).toHaveLength(1);
  });

  it('reports an unmapped stage-1 entry still cached, naming the fault a walk would raise, and changes no A/D bit', () => {
    const f = hwFixture();
    f.hw.detector.enabled = true;
    const ss = guestStage2(f);
    const g = guestStage1(f);
    f.w.setPasidEntry(RID, 2, { present: true, pgtt: PASID_ENTRY_PGTT_NESTED, aw: 2, did: 3, ssptptr: BigInt(ss) * 4096n, fsptptr: BigInt(g.pt.root) * 4096n });
    g.pt.map(0x10, 0x50, 1, { write: true, user: true });
    expect(f.hw.translate(RID, 2, 0x10, DMA_READ)).toBe(GUEST_BASE + 0x50);
    g.pt.unmap(0x10);
    const adBefore = f.hw.walker.adUpdates;
    expect(f.hw.translate(RID, 2, 0x10, DMA_READ)).toBe(GUEST_BASE + 0x50);
    expect(f.hw.walker.adUpdates).toBe(adBefore);
    expect(f.hw.detector.reports[0]).toMatchObject({ did: 3, pasid: 2, fresh: { fault: 0x71, stage: 'first', level: 1 }, entries: [{ stage: 'first', level: 1, value: 0n }] });
  });

  it('re-walks a request without PASID with the privilege its context entry grants (RID_PRIV): no false report', () => {
    const f = hwFixture();
    f.hw.detector.enabled = true;
    const ss = guestStage2(f);
    const g = guestStage1(f);
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_NESTED, aw: 2, did: 3, sre: true, ssptptr: BigInt(ss) * 4096n, fsptptr: BigInt(g.pt.root) * 4096n });
    f.w.setContext(RID, { ...f.w.context(RID), ridPriv: true });
    // A supervisor-only page: only a privileged request may use it.
    g.pt.map(0x10, 0x50, 1, { write: true, user: false });
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(GUEST_BASE + 0x50);
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(GUEST_BASE + 0x50);
    expect(f.hw.detector.reports).toEqual([]);
  });
});
