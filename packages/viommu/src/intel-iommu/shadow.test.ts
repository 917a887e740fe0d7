import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam } from '../vm/guest-ram.js';
import { IovaTree } from './iova-tree.js';
import { type PageWalkInfo, pageWalkLevel, unmapAll } from './shadow.js';

// A 3-level second-stage table: L3 at 0x1000 -> L2 at 0x2000 -> L1 at 0x3000.
const L3 = 0x1000;
const L2 = 0x2000;
const L1 = 0x3000;

function rig() {
  const host = new Host({ memory: 64 * 2 ** 20 });
  const ram = new GuestRam(host.spawnProcess(), 32 * 2 ** 20, host.mem);
  ram.setU64(L3, BigInt(L2) | 3n);
  ram.setU64(L2, BigInt(L1) | 3n);
  const events: string[] = [];
  const info: PageWalkInfo = {
    tree: new IovaTree(),
    notifier: {
      map: (iova, gpa, pages, perm) => void events.push(`map ${iova.toString(16)}->${gpa.toString(16)} x${pages} ${perm}`),
      unmap: (iova, pages) => void events.push(`unmap ${iova.toString(16)} x${pages}`),
    },
    notifyUnmap: true,
    aw: 39,
  };
  const walk = (start = 0, end = 2 ** 27) => pageWalkLevel(ram, info, L3, start, end, 3, true, true);
  return { ram, info, events, walk };
}

describe('the shadow page walk (vtd_page_walk_level / vtd_page_walk_one)', () => {
  it('maps every leaf once, with stacked permissions and large pages as one event', () => {
    const r = rig();
    // IOVA page 5 -> GPA page 0x400, read-only (R = 1).
    r.ram.setU64(L1 + 5 * 8, 0x40_0000n | 1n);
    // IOVA pages 0x200.. (L2 index 1): a 2 MiB leaf -> GPA 0x600000, R|W|PS.
    r.ram.setU64(L2 + 8, 0x60_0000n | 0x83n);
    r.walk();
    expect(r.events).toEqual(['map 5->400 x1 1', 'map 200->600 x512 3']);
    // Nothing changed: a second walk notifies nothing (the iova tree has both).
    r.events.length = 0;
    r.walk();
    expect(r.events).toEqual([]);
  });

  it('turns a changed translation into unmap + map, and a cleared one into an unmap of its range', () => {
    const r = rig();
    r.ram.setU64(L1 + 5 * 8, 0x40_0000n | 3n);
    r.walk();
    r.ram.setU64(L1 + 5 * 8, 0x41_0000n | 3n);
    r.events.length = 0;
    r.walk(5, 6);
    expect(r.events).toEqual(['unmap 5 x1', 'map 5->410 x1 3']);
    r.ram.setU64(L1 + 5 * 8, 0n);
    r.events.length = 0;
    r.walk(5, 6);
    expect(r.events).toEqual(['unmap 5 x1']);
    expect(r.info.tree.length).toBe(0);
  });

  it('drops a whole table range when its table entry goes, and skips unmaps in a replay', () => {
    const r = rig();
    r.ram.setU64(L1 + 7 * 8, 0x40_0000n | 3n);
    r.walk();
    // The L2 entry over IOVA 0..2 MiB is cleared: one unmap of 512 pages covering the old map.
    r.ram.setU64(L2, 0n);
    r.events.length = 0;
    r.info.notifyUnmap = false;
    r.walk();
    expect(r.events).toEqual([]);
    r.info.notifyUnmap = true;
    r.walk();
    expect(r.events).toEqual(['unmap 0 x512']);
  });

  it('skips entries with reserved bits (bit 7 in a non-leaf L3, address bits beyond aw)', () => {
    const r = rig();
    r.ram.setU64(L1, (1n << 40n) | 3n);
    r.walk();
    expect(r.events).toEqual([]);
  });

  it('vtd_address_space_unmap: one unmap of the whole range, then an empty tree', () => {
    const r = rig();
    r.ram.setU64(L1, 0x40_0000n | 3n);
    r.walk();
    r.events.length = 0;
    unmapAll(r.info);
    expect(r.events).toEqual([`unmap 0 x${(2 ** 27).toString()}`]);
    expect(r.info.tree.length).toBe(0);
  });
});
