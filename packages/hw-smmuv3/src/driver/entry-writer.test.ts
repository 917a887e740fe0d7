import { PhysMem } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { Cd } from '../format/cd.js';
import { Ste, STE_S1DSS_BYPASS, STE_S1DSS_SSID0 } from '../format/ste.js';
import { cdUsed, type EntryWriterOps, steUpdateSafe, steUsed, writeEntry } from './entry-writer.js';
import type { IoPgtableArm } from './io-pgtable-arm.js';
import type { SmmuMaster } from './master.js';
import { makeAbortSte, makeBypassSte, makeCdtableSte, makeS2DomainSte } from './ste-make.js';
import type { ArmSmmuDevice } from './device.js';

// The KUnit fixture of arm-smmu-v3-test.c: an SMMU with STALLS and ATTR_TYPES_OVR, a 64 KiB-leaf CD table
const smmu = { features: { stalls: true, attrTypesOvr: true } } as unknown as ArmSmmuDevice;
const master = (stall = false) => ({ smmu, stallEnabled: stall, cdTable: { s1fmt: 2, s1cdmax: 0x1f, basePfn: 0xf0f0f0f0f } }) as unknown as SmmuMaster;
// arm_smmu_test_make_s2_ste: VMID 0, VTCR {tsz 4, sl 3, irgn 2, orgn 1, sh 3, tg 2, ps 1}
const pgtbl = { s2Vtcr: () => ({ tsz: 4, sl: 3, irgn: 2, orgn: 1, sh: 3, tg: 2, ps: 1 }), rootPfn: 0xdbeefdead, quirkS2fwb: false } as unknown as IoPgtableArm;

const abort = makeAbortSte();
const bypass = makeBypassSte(smmu);
const cdtable = (s1dss = STE_S1DSS_SSID0, ats = true) => makeCdtableSte(master(), ats, s1dss);
const s2 = (stall = false) => makeS2DomainSte(master(stall), pgtbl, 0, true);

/** Runs the writer from cur to target; returns the syncs and whether V=0 was ever written. */
function transition(cur: bigint[], target: bigint[], used = steUsed, safe: EntryWriterOps['getUpdateSafe'] = steUpdateSafe) {
  const mem = new PhysMem(2 * 2 ** 20);
  cur.forEach((d, i) => mem.setU64(0x1000 + i * 8, d));
  let syncs = 0;
  let broke = false;
  writeEntry(mem, 0x1000, target, {
    getUsed: used,
    getUpdateSafe: safe,
    sync: () => {
      syncs++;
      if ((mem.u64(0x1000) & 1n) === 0n && (mem.u64(0x1000) & (1n << 31n)) === 0n) broke = true;
    },
  });
  const after = Array.from({ length: 8 }, (_, i) => mem.u64(0x1000 + i * 8));
  return { syncs, hitless: !broke, after };
}

describe('hitless STE updates: the sync counts of the kernel KUnit suite', () => {
  const cases: [string, () => bigint[], () => bigint[], number, boolean][] = [
    ['bypass_to_abort', () => bypass, () => abort, 2, true],
    ['abort_to_bypass', () => abort, () => bypass, 2, true],
    ['cdtable_to_abort', () => cdtable(), () => abort, 2, true],
    ['abort_to_cdtable', () => abort, () => cdtable(), 2, true],
    ['cdtable_to_bypass', () => cdtable(), () => bypass, 3, true],
    ['bypass_to_cdtable', () => bypass, () => cdtable(), 3, true],
    ['cdtable_s1dss_change', () => cdtable(), () => cdtable(STE_S1DSS_BYPASS), 1, true],
    ['s2_to_abort', () => s2(), () => abort, 2, true],
    ['abort_to_s2', () => abort, () => s2(), 2, true],
    ['s2_to_bypass', () => s2(), () => bypass, 2, true],
    ['bypass_to_s2', () => bypass, () => s2(), 2, true],
    ['s1_to_s2', () => cdtable(), () => s2(), 3, true],
    ['s2_to_s1', () => s2(), () => cdtable(), 3, true],
    ['s1_to_s2_stall', () => cdtable(), () => s2(true), 3, true],
  ];
  it.each(cases)('%s', (_n, cur, target, syncs, hitless) => {
    const r = transition(cur(), target());
    expect(r.after).toEqual(target());
    expect(r.syncs).toBe(syncs);
    expect(r.hitless).toBe(hitless);
  });
});

describe('non-hitless updates', () => {
  it('a change in two qwords breaks the entry: V=0, the rest, then qword 0 (3 syncs)', () => {
    const a = makeS2DomainSte(master(), pgtbl, 1, true);
    const r = transition(cdtable(), a);
    expect(r).toMatchObject({ syncs: 3, hitless: false });
    expect(r.after).toEqual(a);
  });
});

describe('CD updates', () => {
  const cd = (asid: number) => Cd.encode({ t0sz: 16, ir0: 1, or0: 1, sh0: 3, epd1: 1, v: 1, ips: 5, aa64: 1, r: 1, a: 1, aset: 1, asid, ttb0: 0x8000_0000n, mair: 0xf404ff44n });
  it('changing only the ASID is one sync (s1_change_asid)', () => {
    const r = transition(cd(1), cd(2), cdUsed, undefined);
    expect(r).toMatchObject({ syncs: 1, hitless: true });
  });

  it('clearing and installing a CD is two syncs each (s1_clear)', () => {
    const zero = new Array<bigint>(8).fill(0n);
    expect(transition(cd(1), zero, cdUsed, undefined).syncs).toBe(2);
    expect(transition(zero, cd(1), cdUsed, undefined).syncs).toBe(2);
  });

  it('refuses a target that sets bits its configuration does not use', () => {
    const bad = Ste.encode({ v: 1, config: 0, s2vmid: 5 });
    expect(() => transition(abort, bad)).toThrow(/used-bits/);
  });
});
