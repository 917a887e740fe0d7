import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam } from '../vm/guest-ram.js';
import { emptyStats } from '../vm/stats.js';
import { type InvHandlers, VtdInvQueue } from './inv-queue.js';

const QUEUE = 0x10_0000;
const STATUS = 0x20_0000;

function rig(dw = true) {
  const host = new Host({ memory: 64 * 2 ** 20 });
  const ram = new GuestRam(host.spawnProcess(), 16 * 2 ** 20, host.mem);
  const calls: unknown[][] = [];
  const h: InvHandlers = {
    contextCache: (...a) => void calls.push(['cc', ...a]),
    iotlb: (...a) => void calls.push(['iotlb', ...a]),
    piotlb: (...a) => void calls.push(['piotlb', ...a]),
    pasidCache: (...a) => void calls.push(['pc', ...a]),
    completionEvent: () => void calls.push(['completion']),
    pageGroupResponse: (...a) => void calls.push(['pgrp', ...a]),
  };
  const stats = emptyStats();
  const iq = new VtdInvQueue(ram, h, () => stats);
  iq.base = QUEUE;
  iq.dw = dw;
  iq.size = dw ? 128 : 256;
  iq.enabled = true;
  let slot = 0;
  /** Queues one descriptor given as qwords. */
  const put = (...qw: bigint[]) => {
    const at = QUEUE + slot * (dw ? 32 : 16);
    qw.forEach((q, i) => ram.setU64(at + 8 * i, q));
    slot++;
    iq.tail = slot;
  };
  return { ram, iq, calls, put, stats };
}

describe('the emulated invalidation queue (vtd_process_inv_desc)', () => {
  it('dispatches a page-selective PASID-based IOTLB descriptor with its fields', () => {
    const r = rig();
    // qw0: type 6 | G 3 << 4 | DID 5 << 16 | PASID 0 << 32 = 0x50036; qw1: ADDR 0xfffff000 | IH 0x40 | AM 0
    r.put(0x5_0036n, 0xffff_f040n, 0n, 0n);
    expect(r.iq.fetch()).toBe(true);
    expect(r.calls).toEqual([['piotlb', 3, 5, 0, 0xfffff, 0, true]]);
    expect(r.iq.head).toBe(1);
    expect(r.iq.iqhReg).toBe(0x20);
    expect(r.stats.guestInvalidations).toEqual({ piotlb: 1 });
  });

  it('writes a wait descriptor status to its address and raises the completion event for IF', () => {
    const r = rig();
    // qw0: type 5 | SW 1 << 5 | status data 2 << 32; qw1: status address
    r.put(0x2_0000_0025n, BigInt(STATUS));
    // qw0: type 5 | IF 1 << 4
    r.put(0x15n, 0n);
    expect(r.iq.fetch()).toBe(true);
    expect(r.ram.u32(STATUS)).toBe(2);
    expect(r.calls).toEqual([['completion']]);
  });

  it('decodes context-cache, IOTLB and PASID-cache descriptors', () => {
    const r = rig();
    // CC device-selective: G 3 << 4 | DID 0 | SID 0x18 << 32 | FM 0 -> 0x18_0000_0031
    r.put(0x18_0000_0031n, 0n);
    // IOTLB DSI DID 7 with DR|DW: 0x2 | 2 << 4 | 0xc0 | 7 << 16 = 0x700e2
    r.put(0x7_00e2n, 0n);
    // PASID-cache PASID-selective DID 2: 0x7 | 1 << 4 | 2 << 16 = 0x20017
    r.put(0x2_0017n, 0n);
    expect(r.iq.fetch()).toBe(true);
    expect(r.calls).toEqual([
      ['cc', 3, 0, 0x18, 0],
      ['iotlb', 2, 7, 0, 0, false],
      ['pc', 1, 2, 0],
    ]);
  });

  it('stops at a descriptor with reserved bits set: IQH stays on it and nothing after it runs', () => {
    const r = rig();
    r.put(0x7_00e2n, 0n);
    // IOTLB descriptor with reserved bit 8 of qw0 set.
    r.put(0x7_01e2n, 0n);
    r.put(0x2_0000_0025n, BigInt(STATUS));
    expect(r.iq.fetch()).toBe(false);
    expect(r.iq.head).toBe(1);
    expect(r.calls).toHaveLength(1);
    expect(r.ram.u32(STATUS)).toBe(0);
  });

  it('refuses 256-bit-only descriptors in a 128-bit queue, unknown types, a wait with no action and a tail past the end', () => {
    const r = rig(false);
    r.put(0x5_0036n, 0n);
    expect(r.iq.fetch()).toBe(false);
    const t = rig();
    t.put(0xfn, 0n);
    expect(t.iq.fetch()).toBe(false);
    const w = rig();
    w.put(0x5n, 0n);
    expect(w.iq.fetch()).toBe(false);
    const e = rig();
    e.iq.tail = 128;
    expect(e.iq.fetch()).toBe(false);
  });

  it('rejects an IOTLB PSI with AM beyond MAMV (18)', () => {
    const r = rig();
    // IOTLB PSI: G 3 << 4 = 0x32; qw1 AM 19
    r.put(0x32n, 19n);
    expect(r.iq.fetch()).toBe(false);
  });

  it('hands a page group response to the unit: RID, PASID (PP), response code, PRGI', () => {
    const r = rig();
    // qw0: type 9 | PP (bit 4) | RC 1 << 12 | RID 0x18 << 16 | PASID 7 << 32; qw1: PRGI 5 << 3 | LPIG (bit 2).
    r.put(0x0000_0007_0018_1019n, 0x2cn, 0n, 0n);
    // Without PP the PASID field means nothing: -1.
    r.put(0x0000_0007_0018_0009n, 0x8n, 0n, 0n);
    expect(r.iq.fetch()).toBe(true);
    expect(r.calls).toEqual([
      ['pgrp', 0x18, 7, 1, 5],
      ['pgrp', 0x18, -1, 0, 1],
    ]);
    expect(r.stats.guestInvalidations).toEqual({ 'pgrp-resp': 2 });
  });

  it('accepts a wait descriptor with PD (page-request drain) only when the unit reports PDS', () => {
    const r = rig();
    // Wait: type 5 | SW (bit 5) | PD (bit 7), status data 1 at STATUS.
    r.put(0x0000_0001_0000_00a5n, BigInt(STATUS));
    expect(r.iq.fetch()).toBe(false);
    r.iq.pageDrain = true;
    expect(r.iq.fetch()).toBe(true);
    expect(r.ram.u32(STATUS)).toBe(1);
  });
});
