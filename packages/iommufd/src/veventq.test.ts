import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { IommufdCtx } from './context.js';
import type { IommufdHwptPaging } from './hw-pagetable.js';
import { IommufdVeventq } from './veventq.js';
import { IommufdViommu } from './viommu.js';

function queue(depth: number): IommufdVeventq {
  const ctx = new IommufdCtx(new Host({ memory: 2 ** 21 }));
  const hwpt = { get() {}, put() {} } as unknown as IommufdHwptPaging;
  return new IommufdVeventq(ctx, new IommufdViommu(ctx, hwpt), 1, depth);
}

/** struct iommufd_vevent_header: flags u32, sequence u32; then the event's bytes. */
function records(b: Uint8Array, dataLen: number): { flags: number; seq: number; data: number[] }[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = [];
  for (let off = 0; off < b.length; ) {
    const flags = v.getUint32(off, true);
    const len = flags & 1 ? 0 : dataLen;
    out.push({ flags, seq: v.getUint32(off + 4, true), data: [...b.subarray(off + 8, off + 8 + len)] });
    off += 8 + len;
  }
  return out;
}

describe('vEVENTQ (eventq.c)', () => {
  it('numbers events, and a full queue turns the overflow into one trailing LOST_EVENTS header', () => {
    const q = queue(2);
    q.report(Uint8Array.of(1, 1));
    q.report(Uint8Array.of(2, 2));
    q.report(Uint8Array.of(3, 3)); // lost: sequence 2 goes to the header
    q.report(Uint8Array.of(4, 4)); // lost again: the header moves to sequence 3
    expect(records(q.read(64), 2)).toEqual([
      { flags: 0, seq: 0, data: [1, 1] },
      { flags: 0, seq: 1, data: [2, 2] },
      { flags: 1, seq: 3, data: [] },
    ]);
    q.report(Uint8Array.of(5, 5));
    expect(records(q.read(64), 2)).toEqual([{ flags: 0, seq: 4, data: [5, 5] }]);
    expect(q.pending).toBe(false);
  });

  it('a new event replaces a trailing LOST_EVENTS header; the sequence gap tells the reader', () => {
    const q = queue(1);
    q.report(Uint8Array.of(1));
    q.report(Uint8Array.of(2)); // lost, header seq 1
    expect(records(q.read(9), 1)).toEqual([{ flags: 0, seq: 0, data: [1] }]);
    q.report(Uint8Array.of(3)); // room again: replaces the trailing header
    expect(records(q.read(64), 1)).toEqual([{ flags: 0, seq: 2, data: [3] }]);
  });

  it('reads whole events only: EINVAL below a header or when the first event does not fit', () => {
    const q = queue(4);
    q.report(Uint8Array.of(1, 2, 3, 4));
    expect(() => q.read(7)).toThrow(/EINVAL/);
    expect(() => q.read(11)).toThrow(/EINVAL/);
    q.report(Uint8Array.of(5, 6, 7, 8));
    expect(q.read(12 + 8).length).toBe(12); // the second does not fit and stays queued
    expect(q.numEvents).toBe(1);
  });
});
