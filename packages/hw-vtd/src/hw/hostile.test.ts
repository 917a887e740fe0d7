import { DMA_READ, DMA_WRITE, NO_PASID, X86PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { PASID_ENTRY_PGTT_FL_ONLY, PASID_ENTRY_PGTT_NESTED, PASID_ENTRY_PGTT_SL_ONLY } from '../format/pasid-entry.js';
import { SS } from '../format/ss-pte.js';
import { GUEST_BASE, guestStage1, guestStage2, hwFixture, queue, RID } from './__tests__/fixture.js';
import { IotlbInvDesc } from '../format/inv-desc.js';

describe('tables a hostile guest writes', () => {
  it('a first-stage table that points at itself ends after its levels (a recursive mapping, not a loop)', () => {
    const f = hwFixture();
    const pt = new X86PageTable(f.mem, f.alloc, 4);
    f.w.setPasidEntry(RID, 1, { present: true, pgtt: PASID_ENTRY_PGTT_FL_ONLY, did: 1, fsptptr: BigInt(pt.root) * 4096n });
    // PML4[0] -> PML4 itself, user + writable: every level reads the same page.
    f.mem.setU64(pt.root * 4096, (BigInt(pt.root) << 12n) | 0x27n);
    expect(f.hw.translate(RID, 1, 0, DMA_READ)).toBe(pt.root);
    // Writes through it change the table page the device can reach, which is what the guest mapped.
    expect(f.hw.translate(RID, 1, 0, DMA_WRITE)).toBe(pt.root);
  });

  it('a second-stage loop in a nested walk terminates with a fault or a translation, never hangs', () => {
    const f = hwFixture();
    const ss = guestStage2(f);
    const g = guestStage1(f);
    f.w.setPasidEntry(RID, 3, { present: true, pgtt: PASID_ENTRY_PGTT_NESTED, aw: 2, did: 4, ssptptr: BigInt(ss) * 4096n, fsptptr: BigInt(g.pt.root) * 4096n });
    // SS root entry 0 points back at the root: the walk descends into the root page again at every level.
    f.mem.setU64(ss * 4096, (BigInt(ss) << 12n) | 3n);
    g.pt.map(0x10, 0x20, 1, { write: true, user: true });
    const before = f.hw.walker.tableReads;
    expect(f.hw.translate(RID, 3, 0x10, DMA_READ)).toBe(-1);
    expect(f.hw.walker.tableReads - before).toBeLessThanOrEqual(24);
  });

  it('pointers outside RAM fault at the entry that holds them; nothing is written', () => {
    const f = hwFixture();
    const ss = f.alloc();
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n });
    // SS-PML4E points to a page 1 TiB out: the next read fails (0x78) at level 3.
    f.mem.setU64(ss * 4096, (1n << 40n) | 3n);
    const touched = f.mem.touchedBytes;
    expect(f.hw.translate(RID, NO_PASID, 0, DMA_WRITE)).toBe(-1);
    expect(f.hw.lastFault()).toMatchObject({ reason: 0x78, record: { stage: 'second', level: 3 } });
    expect(f.mem.touchedBytes).toBe(touched);
    // A leaf whose output is outside HAW is a reserved-bit fault (0x7a), not a translation. The
    // paging-structure cache kept the bad PML4E, so flush it (register-based global IOTLB invalidation).
    f.mem.setU64(ss * 4096, (BigInt(f.alloc()) << 12n) | 3n);
    f.hw.write64(0xf8, (1n << 63n) | (1n << 60n));
    const leaf = f.w.ssMap(ss, 4, 0, 0, 1);
    f.mem.setU64(leaf, (1n << 47n) | 3n);
    expect(f.hw.translate(RID, NO_PASID, 0, DMA_READ)).toBe(-1);
    expect(f.hw.lastFault().reason).toBe(0x7a);
  });

  it('reserved bits anywhere in a first-stage entry, large-page or PML4 PS, fault with 0x72', () => {
    const f = hwFixture({ fs1gp: false });
    const pt = new X86PageTable(f.mem, f.alloc, 4);
    f.w.setPasidEntry(RID, 1, { present: true, pgtt: PASID_ENTRY_PGTT_FL_ONLY, did: 1, fsptptr: BigInt(pt.root) * 4096n });
    pt.map(0x200, 0x800, 2, { write: true, user: true });
    const pdPa = (() => {
      const pml4 = f.mem.u64(pt.root * 4096);
      const pdpt = Number(pml4 >> 12n) & 0xfffff;
      return Number(f.mem.u64(pdpt * 4096) >> 12n) * 4096 + 8;
    })();
    f.mem.setU64(pdPa, f.mem.u64(pdPa) | 0x2000n); // bit 13 of a 2 MiB leaf
    expect(f.hw.translate(RID, 1, 0x200, DMA_READ)).toBe(-1);
    expect(f.hw.lastFault()).toMatchObject({ reason: 0x72, record: { stage: 'first', level: 2 } });
    // A 1 GiB leaf without CAP.FS1GP.
    const pdptPa = Number(f.mem.u64(pt.root * 4096) >> 12n) * 4096 + 8;
    f.mem.setU64(pdptPa, 0x4000_0087n);
    expect(f.hw.translate(RID, 1, 0x40000, DMA_READ)).toBe(-1);
    expect(f.hw.lastFault()).toMatchObject({ reason: 0x72, record: { level: 3 } });
  });

  it('a guest that points its stage-1 tables at memory stage 2 does not map faults, and cannot reach host memory', () => {
    const f = hwFixture();
    const ss = guestStage2(f);
    const g = guestStage1(f);
    f.w.setPasidEntry(RID, 3, { present: true, pgtt: PASID_ENTRY_PGTT_NESTED, aw: 2, did: 4, ssptptr: BigInt(ss) * 4096n, fsptptr: BigInt(g.pt.root) * 4096n });
    // The guest maps its VA to "GPA" = the host's own root table frame: stage 2 has no such GPA mapped.
    g.pt.map(0x10, f.w.rootPfn + 0x10000, 1, { write: true, user: true });
    expect(f.hw.translate(RID, 3, 0x10, DMA_WRITE)).toBe(-1);
    expect(f.hw.lastFault().record).toMatchObject({ stage: 'second' });
    // Every successful nested translation lands in the guest's RAM.
    g.pt.map(0x11, 0x123, 1, { write: true, user: true });
    const out = f.hw.translate(RID, 3, 0x11, DMA_WRITE);
    expect(out).toBe(GUEST_BASE + 0x123);
  });

  it('a guest cannot extend a cached write permission: a read-only remap faults once the IOTLB is flushed', () => {
    const f = hwFixture();
    const q = queue(f);
    const ss = f.alloc();
    const leaf = f.w.ssMap(ss, 4, 0x10, 0x600, 1, SS.R | SS.W);
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n });
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_WRITE)).toBe(0x600);
    f.mem.setU64(leaf, (0x600n << 12n) | 1n);
    q.submit(IotlbInvDesc.encode({ type: 2, g: 3, did: 5, addr: 0x10000n }));
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_WRITE)).toBe(-1);
    expect(f.hw.lastFault().reason).toBe(0x85);
  });
});
