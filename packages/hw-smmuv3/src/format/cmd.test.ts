import { describe, expect, it } from 'vitest';
import { CMD_DEFINED_BITS, CMDQ_OP, decodeCmd, encodeCmd } from './cmd.js';
import { EVT, EVT_CLASS_TT, eventName, Evt } from './event.js';

describe('commands (IHI0070 4)', () => {
  it('CMD_SYNC as Linux issues it with CS=SEV', () => {
    // op 0x46 | CS 2 << 12 (0x2000) | MSH ISH 3 << 22 (0xc00000) | MSIAttr 0xf << 24 (0xf000000)
    expect(encodeCmd('CMD_SYNC', { cs: 2, msh: 3, msiAttr: 0xf })).toEqual([0x0fc02046n, 0n]);
  });

  it('CMD_SYNC with an MSI write', () => {
    // MSIData 0 and MSIAddr[51:2] = 0x8000_1230
    expect(encodeCmd('CMD_SYNC', { cs: 1, msiAddr: 0x8000_1230n })).toEqual([0x1046n, 0x8000_1230n]);
  });

  it('configuration invalidations', () => {
    // CFGI_STE: SID 0x100 in [63:32], Leaf in dword 1 bit 0
    expect(encodeCmd('CFGI_STE', { sid: 0x100, leaf: 1 })).toEqual([0x0000_0100_0000_0003n, 1n]);
    // CFGI_ALL = CFGI_STE_RANGE with Range 31
    expect(encodeCmd('CFGI_STE_RANGE', { range: 31 })).toEqual([0x4n, 0x1fn]);
    // CFGI_CD: SSID 5 in [31:12]
    expect(encodeCmd('CFGI_CD', { sid: 0x100, ssid: 5, leaf: 1 })).toEqual([0x0000_0100_0000_5005n, 1n]);
  });

  it('TLB invalidations with and without a range', () => {
    // NH_VA ASID 5 ([63:48]), Leaf, TTL 3 << 8, TG 1 << 10, VA 0x12345000
    expect(encodeCmd('TLBI_NH_VA', { asid: 5, leaf: 1, ttl: 3, tg: 1, addr: 0x1234_5000n })).toEqual([0x0005_0000_0000_0012n, 0x1234_5701n]);
    // 16 pages: SCALE = 4 (bits 25:20 -> 0x400000), NUM = 0
    expect(encodeCmd('TLBI_NH_VA', { asid: 1, scale: 4, tg: 1, addr: 0x10_0000n })[0]).toBe(0x0001_0000_0040_0012n);
    // S2_IPA VMID 1 ([47:32]), IPA 0x40000000, Leaf
    expect(encodeCmd('TLBI_S2_IPA', { vmid: 1, leaf: 1, addr: 0x4000_0000n })).toEqual([0x1_0000_002an, 0x4000_0001n]);
    expect(encodeCmd('TLBI_NSNH_ALL')).toEqual([0x30n, 0n]);
  });

  it('ATC_INV of everything (Size 52)', () => {
    expect(encodeCmd('ATC_INV', { sid: 0x100, size: 52 })).toEqual([0x0000_0100_0000_0040n, 0x34n]);
  });

  it('decodes by opcode and names unknown opcodes', () => {
    const c = decodeCmd(0x0005_0003_0000_0011n, 0n);
    expect(c.name).toBe('TLBI_NH_ASID');
    expect(c.fields).toMatchObject({ asid: 5, vmid: 3 });
    expect(decodeCmd(0x7fn, 0n).name).toBe('UNKNOWN_0x7f');
    expect(() => encodeCmd('CFGI_STE', { asid: 1 })).toThrow(RangeError);
  });

  it('knows which bits each opcode defines', () => {
    // TLBI_NH_ALL defines only the opcode and VMID: bits 7:0 and 47:32
    expect(CMD_DEFINED_BITS[CMDQ_OP.TLBI_NH_ALL]).toEqual([0x0000_ffff_0000_00ffn, 0n]);
    // SSec (bit 10) is defined by no Non-secure command
    for (const [d0] of Object.values(CMD_DEFINED_BITS)) expect(d0! & (1n << 10n)).toBe(0n);
  });
});

describe('event records (IHI0070 7.3)', () => {
  it('encodes a stage-2 fault on a stage-1 table fetch', () => {
    // F_TRANSLATION 0x10, SID 8; RnW (bit 35), S2 (bit 39), CLASS=TT 1 << 40; IOVA; IPA of the table
    const dw = Evt.encode({ type: EVT.F_TRANSLATION, sid: 8, rnw: 1, s2: 1, class: EVT_CLASS_TT, addr: 0x80_8060_4567n, addr2: 0x4e4d_1000n });
    expect(dw).toEqual([0x0000_0008_0000_0010n, 0x0000_0188_0000_0000n, 0x80_8060_4567n, 0x4e4d_1000n]);
  });

  it('decodes SSV/SSID and a stall tag', () => {
    // C_BAD_CD with SSV (bit 11) and SSID 3 ([31:12]) for SID 0x10
    expect(Evt.decode([0x0000_0010_0000_380an, 0n, 0n, 0n])).toMatchObject({ type: 0x0a, ssv: 1, ssid: 3, sid: 0x10 });
    expect(Evt.decode([0x13n, 0x8000_0007n, 0n, 0n])).toMatchObject({ stall: 1, stag: 7 });
    expect(eventName(0x13)).toBe('F_PERMISSION');
    expect(eventName(0x99)).toBe('UNKNOWN_0x99');
  });
});
