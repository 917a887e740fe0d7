import { Host, PAGE_SIZE } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { Coherence } from './coherence.js';
import type { PageView } from './mirror-object.js';
import { MirrorRegistry } from './registry.js';

class Real implements PageView {
  readonly pages = [new Uint8Array(PAGE_SIZE).fill(1), new Uint8Array(PAGE_SIZE).fill(2)];
  writes = 0;
  covers(i: number): boolean {
    return i < 2;
  }
  runEnd(): number {
    return 2;
  }
  readPage(i: number, dst: Uint8Array): boolean {
    for (let k = 0; k * PAGE_SIZE < dst.length; k++) dst.set(this.pages[i + k]!, k * PAGE_SIZE);
    return true;
  }
  writePage(i: number, src: Uint8Array): boolean {
    this.writes++;
    this.pages[i]!.set(src);
    return true;
  }
}

describe('coherence at syscall boundaries', () => {
  function setup() {
    const host = new Host({ memory: 16 * 2 ** 20 });
    const reg = new MirrorRegistry(host);
    const o = reg.sharedObject('00:01:9', '/dev/zero (deleted)', 2);
    const real = new Real();
    o.views.add(real);
    const c = new Coherence(reg, host.mem);
    const f0 = o.populate(0);
    const f1 = o.populate(1);
    host.frames.pin(f0);
    host.frames.pin(f1);
    return { host, o, real, c, f0, f1 };
  }

  it('refresh: a page the program wrote reaches its frame', () => {
    const { host, real, c, f0, f1 } = setup();
    real.pages[1]![10] = 0x99;
    c.refresh([]);
    expect(host.mem.u8(f1 * PAGE_SIZE + 10)).toBe(0x99);
    expect(host.mem.u8(f0 * PAGE_SIZE)).toBe(1);
    expect(c.stats.refreshed).toBe(1);
  });

  it('writeback: only frames the kernel changed go back', () => {
    const { host, real, c, f0 } = setup();
    host.mem.setU8(f0 * PAGE_SIZE + 7, 0x55);
    c.writeback([]);
    expect(real.pages[0]![7]).toBe(0x55);
    expect(real.writes).toBe(1);
    c.writeback([]);
    expect(real.writes).toBe(1);
  });

  it('writeback drops pages nobody pins any more', () => {
    const { host, o, c, f0 } = setup();
    host.frames.unpin(f0);
    c.writeback([]);
    expect(o.pfn(0)).toBe(0);
    expect(o.populated.size).toBe(1);
  });
});
