import { describe, expect, it } from 'vitest';
import { TlbCache } from './tlb.js';

describe('TlbCache.invalidateRange on small ranges (set probing)', () => {
  it('drops exactly the entries of the tag that overlap the range, at every page size', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 50; round++) {
      const t = new TlbCache('t', 64, 4);
      for (let i = 0; i < 200; i++) {
        const level = 1 + rnd(3);
        const span = level === 1 ? 1 : level === 2 ? 512 : 262144;
        const base = rnd(4) * 262144 + rnd(1024) * (level === 1 ? 1 : 0) + rnd(2) * 512 * (level < 3 ? 1 : 0);
        t.fill(1 + rnd(2), base - (base % span), rnd(1 << 20) * span, level, 1);
      }
      const before = [...t.entries()];
      const tag = 1 + rnd(2);
      const first = rnd(4) * 262144 + rnd(1100);
      const n = 1 + rnd(64);
      const span = (l: number) => (l === 1 ? 1 : l === 2 ? 512 : 262144);
      const expected = before.filter((e) => !(e.tag === tag && e.inPfn < first + n && e.inPfn + span(e.level) > first));
      expect(t.invalidateRange(tag, first, n)).toBe(before.length - expected.length);
      expect([...t.entries()]).toEqual(expected);
    }
  });
});
