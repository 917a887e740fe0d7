import { DMA_PRIV, DMA_READ, DMA_WRITE } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { PASID_ENTRY_PGTT_NESTED } from '../format/pasid-entry.js';
import { SS } from '../format/ss-pte.js';
import { type Fixture, GUEST_BASE, guestStage1, guestStage2, hwFixture, MiB, RID } from './__tests__/fixture.js';

/** xorshift32: the same tables and requests for both units. */
function rng(seed: number) {
  let x = seed;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

function build(seed: number): Fixture {
  const f = hwFixture();
  const r = rng(seed);
  const ss = guestStage2(f);
  const g = guestStage1(f);
  f.w.setPasidEntry(RID, 4, { present: true, pgtt: PASID_ENTRY_PGTT_NESTED, aw: 2, did: 3, sre: true, ssptptr: BigInt(ss) * 4096n, fsptptr: BigInt(g.pt.root) * 4096n });
  for (let i = 0; i < 256; i++) {
    const va = 0x4000 + r(512);
    const gpa = 0x800 + r(0x400);
    g.pt.map(va, gpa, 1, { write: r(2) === 1, user: r(4) !== 0, xd: r(2) === 1, accessed: r(3) !== 0, dirty: r(3) === 0 });
    const bits = [SS.R | SS.W, SS.R, SS.W, 0][r(4)]!;
    f.w.ssMap(ss, 4, gpa, GUEST_BASE + gpa, 1, bits);
    if (r(16) === 0) f.w.ssMap(ss, 4, gpa, GUEST_BASE + gpa, 1, bits | 0x80); // PS in a 4 KiB leaf: reserved
  }
  return f;
}

function firstDifference(a: Fixture, b: Fixture, pa: number, length: number): number {
  const x = a.mem.read(pa, length);
  const y = b.mem.read(pa, length);
  for (let i = 0; i < length; i++) if (x[i] !== y[i]) return pa + i;
  return -1;
}

describe('the fast nested path agrees with the full walk', () => {
  it('gives the same pages, faults and A/D updates with caches off as with caches on', () => {
    const a = build(12345);
    const b = build(12345);
    a.hw.setCaching({ iotlb: false, pagingStructure: false });
    const r = rng(777);
    const accesses = [DMA_READ, DMA_WRITE, DMA_READ | DMA_PRIV, DMA_WRITE | DMA_PRIV];
    for (let i = 0; i < 4000; i++) {
      const va = 0x4000 + r(520);
      const access = accesses[r(4)]!;
      const ra = a.hw.translate(RID, 4, va, access);
      const rb = b.hw.translate(RID, 4, va, access);
      expect([va, access, ra, ra < 0 ? a.hw.lastFault().reason : 0]).toEqual([va, access, rb, rb < 0 ? b.hw.lastFault().reason : 0]);
    }
    // Same A/D bits everywhere: the host table area and the guest's RAM.
    expect(firstDifference(a, b, MiB, 32 * MiB)).toBe(-1);
    expect(firstDifference(a, b, GUEST_BASE * 4096, 32 * MiB)).toBe(-1);
  });
});
