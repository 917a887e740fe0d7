import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam } from '../../vm/guest-ram.js';
import { cdUsed, type EntryWriterOps, steUpdateSafe, steUsed, writeEntry } from './entry-writer.js';
import { makeAbortSte, makeBypassSte, makeCdtableSte, makeS1Cd } from './ste.js';

const RAM = 0x4000_0000;
const AT = RAM + 0x1000;

/** Runs a transition from `cur` to `target`; returns the kind, each synced snapshot of the first 3 dwords, the final entry. */
function transition(cur: bigint[], target: bigint[], ops: 'ste' | 'cd') {
  const host = new Host({ memory: 16 * 2 ** 20 });
  const ram = new GuestRam(host.spawnProcess(), 2 ** 20, host.mem, [{ gpa: RAM, size: 2 ** 20, offset: 0 }]);
  cur.forEach((v, i) => ram.setU64(AT + 8 * i, v));
  const seen: bigint[][] = [];
  const w: EntryWriterOps = ops === 'ste' ? { getUsed: steUsed, getUpdateSafe: steUpdateSafe, sync: () => seen.push([0, 1, 2].map((i) => ram.u64(AT + 8 * i))) } : { getUsed: cdUsed, sync: () => seen.push([0, 1, 2].map((i) => ram.u64(AT + 8 * i))) };
  const kind = writeEntry(ram, AT, target, w);
  return { kind, seen, final: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ram.u64(AT + 8 * i)) };
}

const s1 = (cdtab: number, ats = false) => makeCdtableSte({ cdtab, s1fmt: 0, s1cdmax: 0, atsEnabled: ats, s1dss: 2, stallDisable: false, attrTypesOvr: false });
const cd = (asid: number, ttb0: number) => makeS1Cd({ t0sz: 16, ips: 4, coherent: true, asid, ttb0, stall: false });

describe('arm_smmu_write_entry: STE and CD updates the SMMU never sees torn', () => {
  it('abort -> stage 1 is hitless: dword 1 first (unused under abort), then dword 0 flips Config', () => {
    const r = transition(makeAbortSte(), s1(0x4020_5000), 'ste');
    expect(r.kind).toBe('hitless');
    expect(r.seen).toEqual([
      [1n, 0xd6n, 0n],
      [0x4020_500bn, 0xd6n, 0n],
    ]);
    expect(r.final).toEqual(s1(0x4020_5000));
  });

  it('stage 1 -> abort is hitless the other way: dword 0 first, then the now-unused dword 1 is cleared', () => {
    const r = transition(s1(0x4020_5000), makeAbortSte(), 'ste');
    expect(r.seen).toEqual([
      [1n, 0xd6n, 0n],
      [1n, 0n, 0n],
    ]);
  });

  it('a new CD table pointer is one dword: one sync; EATS alone is a safe bit: one sync; nothing new: none', () => {
    expect(transition(s1(0x4020_5000), s1(0x4030_0000), 'ste').seen).toEqual([[0x4030_000bn, 0xd6n, 0n]]);
    expect(transition(s1(0x4020_5000), s1(0x4020_5000, true), 'ste').seen).toEqual([[0x4020_500bn, 0x1000_00d6n, 0n]]);
    expect(transition(s1(0x4020_5000), s1(0x4020_5000), 'ste')).toMatchObject({ kind: 'same', seen: [] });
  });

  it('bypass -> stage 1 changes SHCFG and S1 fields in dword 1 and Config in dword 0, yet hitless: SHCFG is unused under stage 1', () => {
    const r = transition(makeBypassSte(true), s1(0x4020_5000), 'ste');
    expect(r.kind).toBe('hitless');
    expect(r.seen.at(-1)).toEqual([0x4020_500bn, 0xd6n, 0n]);
  });

  it('CDs: a first CD goes in hitless (TTB0 and MAIR, then V); new ASID and TTB0 together break it (V = 0 first)', () => {
    const a = transition([0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n], cd(1, 0x4020_6000), 'cd');
    expect(a.seen).toEqual([
      [0n, 0x4020_6000n, 0n],
      [0x0001_e204_c000_3510n, 0x4020_6000n, 0n],
    ]);
    const b = transition(cd(1, 0x4020_6000), cd(2, 0x4040_0000), 'cd');
    expect(b.kind).toBe('breaking');
    expect(b.seen).toEqual([
      [0n, 0x4020_6000n, 0n],
      [0n, 0x4040_0000n, 0n],
      [0x0002_e204_c000_3510n, 0x4040_0000n, 0n],
    ]);
  });
});
