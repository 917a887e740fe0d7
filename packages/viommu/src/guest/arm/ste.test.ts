import { describe, expect, it } from 'vitest';
import { CmdBatch } from './cmds.js';
import { makeAbortSte, makeBypassSte, makeCdtableSte, makeS1Cd, makeSvaCd } from './ste.js';

describe('the STEs and CD the guest driver builds', () => {
  it('abort and bypass STEs (arm_smmu_make_abort_ste, _bypass_ste)', () => {
    // V (bit 0) | Config 0b000; bypass: Config 0b100 << 1 = 0x8, SHCFG incoming (1 << 44) with ATTR_TYPES_OVR
    expect(makeAbortSte()).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    expect(makeBypassSte(false).slice(0, 2)).toEqual([9n, 0n]);
    expect(makeBypassSte(true).slice(0, 2)).toEqual([9n, 1n << 44n]);
  });

  it('a stage-1 STE through the CD table (arm_smmu_make_cdtable_ste)', () => {
    const base = { cdtab: 0x4020_5000, s1fmt: 0, s1cdmax: 0, atsEnabled: false, s1dss: 2, stallDisable: false, attrTypesOvr: false };
    // dword 0: V | Config 0b101 (0xa) | S1ContextPtr 0x40205000; dword 1: S1DSS 2 | S1CIR 1 << 2 | S1COR 1 << 4 | S1CSH 3 << 6 = 0xd6
    expect(makeCdtableSte(base).slice(0, 4)).toEqual([0x4020_500bn, 0xd6n, 0n, 0n]);
    // EATS 1 << 28 with ATS, S1STALLD bit 27 on a stalling unit; a 2-level (64 KiB leaves, S1Fmt 2 << 4) table of 2^20 CDs (S1CDMax 20 << 59)
    const big = makeCdtableSte({ ...base, s1fmt: 2, s1cdmax: 20, atsEnabled: true, stallDisable: true });
    expect(big.slice(0, 2)).toEqual([(20n << 59n) | 0x4020_5000n | 0x20n | 0xbn, 0x1800_00d6n]);
  });

  it('the stage-1 CD (arm_smmu_make_s1_cd)', () => {
    const cd = makeS1Cd({ t0sz: 16, ips: 4, coherent: true, asid: 1, ttb0: 0x4020_6000, stall: false });
    // dword 0: T0SZ 16 | IR0 1 << 8 | OR0 1 << 10 | SH0 3 << 12 (0x3510) | EPD1 bit 30 | V bit 31 | IPS 4 << 32 | AA64 bit 41 |
    // R bit 45 | A bit 46 | ASET bit 47 | ASID 1 << 48; dword 1 TTB0; dword 3 MAIR 0xf404ff44
    expect(cd.slice(0, 4)).toEqual([0x0001_e204_c000_3510n, 0x4020_6000n, 0n, 0xf404_ff44n]);
    // Non-coherent walks: non-cacheable (IR0 = OR0 = 0), outer-shareable (SH0 2 << 12)
    expect(makeS1Cd({ t0sz: 16, ips: 5, coherent: false, asid: 0xbeef, ttb0: 0, stall: true }).at(0)).toBe(0xbeef_f205_c000_2010n);
  });
});

describe('the commands the guest driver builds', () => {
  const words = (fill: (b: CmdBatch) => void) => {
    const b = new CmdBatch();
    fill(b);
    return [...b.words.subarray(0, 4 * b.num)];
  };

  it('encodes CFGI, TLBI, ATC_INV and CMD_SYNC as IHI0070 chapter 4 lays them out', () => {
    expect(words((b) => b.cfgiAll())).toEqual([0x04, 0, 31, 0]);
    expect(words((b) => b.cfgiSte(0x18, true))).toEqual([0x03, 0x18, 1, 0]);
    // CFGI_CD: SSID 5 in [31:12] -> 0x5005
    expect(words((b) => b.cfgiCd(0x18, 5, true))).toEqual([0x5005, 0x18, 1, 0]);
    // TLBI_NH_ASID: ASID in [63:48], VMID [47:32]
    expect(words((b) => b.tlbi(0x11, 0x42, 3))).toEqual([0x11, 0x0042_0003, 0, 0]);
    // A range TLBI_NH_VA: NUM 3 (bits 16:12), SCALE 0; Leaf | TTL 3 << 8 | TG 1 << 10 | the address 0x70000000
    expect(words((b) => b.tlbiVa(0x12, 0x42, 0, 3, 0, true, 3, 1, 0x7_0000))).toEqual([0x3012, 0x0042_0000, 0x7000_0701, 0]);
    // ATC_INV: Size 6 | address page 0x12340 << 12; SSV (bit 11) only with a PASID
    expect(words((b) => b.atcInv(0x18, 0, 0x1_2340, 6))).toEqual([0x40, 0x18, 0x1234_0006, 0]);
    expect(words((b) => b.atcInv(0x18, 7, 0, 52))).toEqual([0x7840, 0x18, 52, 0]);
    // CMD_SYNC: CS 1 << 12 | MSH 3 << 22 | MSIAttr 0xf << 24; MSIAddr [51:2]
    expect(words((b) => b.sync(1, 0x1_4030_1230))).toEqual([0x0fc0_1046, 0, 0x4030_1230, 1]);
    // PRI_RESP: SSV | SSID 5 << 12 = 0x5841 (op 0x41); PRG index 0x1a5 | Resp 2 << 12; without SSV no SSID either
    expect(words((b) => b.priResp(0x18, 5, true, 0x1a5, 2))).toEqual([0x5841, 0x18, 0x21a5, 0]);
    expect(words((b) => b.priResp(0x18, 5, false, 3, 1))).toEqual([0x41, 0x18, 0x1003, 0]);
  });
});

describe('the SVA CD (arm_smmu_make_sva_cd)', () => {
  it("the process's TTB0 and VA size, write-back inner-shareable walks, EPD1, IPS of the CPU, R, A, ASET, the ASID, the CPU's MAIR", () => {
    const cd = makeSvaCd({ asid: 2, ttb0: 0x4123_4000, ips: 5, vaBits: 48, mair: 0x0000_0004_0044_f0ffn });
    // dword 0 low: T0SZ 16 (0x10) | IR0 1 << 8 | OR0 1 << 10 | SH0 3 << 12 (0x3510) | EPD1 bit 30 | V bit 31 = 0xc000_3510;
    // high: IPS 5 [34:32] | AA64 bit 41 (0x200) | R 45 (0x2000) | A 46 (0x4000) | ASET 47 (0x8000) | ASID 2 << 48 = 0x0002_e205
    expect(cd).toEqual([0x0002_e205_c000_3510n, 0x4123_4000n, 0n, 0x0000_0004_0044_f0ffn, 0n, 0n, 0n, 0n]);
  });
});
