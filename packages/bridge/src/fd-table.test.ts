import { Host, OpenFile } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { installAt, realFdOps, reserveRealFds } from './fd-table.js';

describe('descriptor numbers', () => {
  it('installs at a chosen number and leaves the holes below it free', () => {
    const p = new Host({ memory: 2 ** 21 }).spawnProcess();
    const f = new OpenFile(realFdOps, null, 'x');
    installAt(p, 6, f);
    expect(p.openFds).toEqual([6]);
    expect(f.references).toBe(1);
    expect(p.installFile(new OpenFile(realFdOps, null, 'y'))).toBe(3);
  });

  it('reserves the numbers the real process uses so that the next install picks its lowest free one', () => {
    const p = new Host({ memory: 2 ** 21 }).spawnProcess();
    // Real process: 0-2, 3 (a memfd), 5 taken; free 4, 6, 7, 8. Simulated fd 5 already.
    installAt(p, 5, new OpenFile(realFdOps, null, 'sim'));
    const placed = reserveRealFds(p, [4, 6, 7, 8], (n) => n < 3 || n === 5);
    expect(placed).toEqual([3]);
    expect(p.installFile(new OpenFile(realFdOps, null, 'new'))).toBe(4);
    expect(p.installFile(new OpenFile(realFdOps, null, 'new'))).toBe(6);
  });
});
