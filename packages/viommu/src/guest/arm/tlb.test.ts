import { describe, expect, it } from 'vitest';
import type { CmdBatch } from './cmds.js';
import type { GuestCmdq } from './cmdq.js';
import type { ArmSmmuDomain } from './domain.js';
import { ArmSmmuTlb } from './tlb.js';

/** Each submission the TLB code makes: its commands as [opcode, dword 0 high, dword 1 low] and whether it syncs. */
function rig(rangeInv: boolean, ats: number[] = []) {
  const subs: { cmds: number[][]; sync: boolean }[] = [];
  const cmdq = {
    issue(b: CmdBatch, sync: boolean) {
      const cmds = [];
      for (let i = 0; i < b.num; i++) cmds.push([b.words[4 * i]!, b.words[4 * i + 1]!, b.words[4 * i + 2]!]);
      subs.push({ cmds, sync });
      b.num = 0;
    },
  } as unknown as GuestCmdq;
  const tlb = new ArmSmmuTlb(cmdq, { rangeInv, atsSids: new Set(ats) });
  const d = { asid: 7, sids: new Set([0x18]), gatherPgsize: 0 } as unknown as ArmSmmuDomain;
  return { tlb, d, subs };
}

describe('the guest TLB invalidation of a stage-1 domain (arm_smmu_domain_inv_range)', () => {
  it('with RIL, 35 pages are two range commands: (2+1) << 0 pages, then (0+1) << 5, then a CMD_SYNC', () => {
    const { tlb, d, subs } = rig(true);
    tlb.flushRange(d, 0x100, 0x122, true);
    // dword 0: TLBI_NH_VA (0x12) | NUM << 12 | SCALE << 20; dword 0 high: ASID 7 << 16;
    // dword 1: Leaf | TTL 3 << 8 | TG 1 << 10 (4 KiB) | the address
    expect(subs).toEqual([
      {
        cmds: [
          [0x2012, 7 << 16, 0x10_0701],
          [0x50_0012, 7 << 16, 0x10_3701],
        ],
        sync: true,
      },
    ]);
  });

  it('without RIL, one command per granule; 512 granules or more become one TLBI_NH_ASID', () => {
    const a = rig(false);
    a.tlb.flushRange(a.d, 0x100, 0x102, true);
    expect(a.subs[0]!.cmds).toEqual([
      [0x12, 7 << 16, 0x10_0001],
      [0x12, 7 << 16, 0x10_1001],
      [0x12, 7 << 16, 0x10_2001],
    ]);
    a.tlb.flushRange(a.d, 0, 511, true);
    expect(a.subs[1]).toEqual({ cmds: [[0x11, 7 << 16, 0]], sync: true });
  });

  it('a 2 MiB leaf is invalidated at its level (TTL 2); a freed table is a non-leaf walk flush (TTL 0)', () => {
    const { tlb, d, subs } = rig(true);
    (d as { gatherPgsize: number }).gatherPgsize = 2 ** 21;
    tlb.flushRange(d, 0x200, 0x3ff, true);
    // 512 pages: SCALE 9, NUM 0; TTL 2
    expect(subs[0]!.cmds).toEqual([[0x90_0012, 7 << 16, 0x20_0601]]);
    tlb.flushRange(d, 0x200, 0x3ff, false);
    expect(subs[1]!.cmds).toEqual([[0x90_0012, 7 << 16, 0x20_0400]]);
  });

  it('the flush queue flush is TLBI_NH_ASID; with ATS an ATC_INV batch follows, after the TLBI batch has synced', () => {
    const { tlb, d, subs } = rig(true, [0x18]);
    tlb.flushAll(d);
    expect(subs).toEqual([
      { cmds: [[0x11, 7 << 16, 0]], sync: true },
      { cmds: [[0x40, 0x18, 52]], sync: true },
    ]);
    // Pages 0x100..0x122: the smallest aligned power of two covering them is 64 pages from 0x100 (Size 6)
    tlb.flushRange(d, 0x100, 0x122, true);
    expect(subs[3]).toEqual({ cmds: [[0x40, 0x18, 0x10_0006]], sync: true });
  });
});
