import { describe, expect, it } from 'vitest';
import { addrSizeBits, addrSizeEncoding, Idr0, Idr1, Idr5, Iidr } from './idr.js';
import { QueueBase, queueEmpty, queueFull, queueIdx, queueInc, queueUsed, queueWrap } from './queue.js';
import { Cr0, Gbpa, Gerror } from './registers.js';
import { L1Std, StrtabBase, StrtabBaseCfg } from './strtab.js';

describe('ID registers (IHI0070 6.3.1-6.3.6)', () => {
  it('decodes gem5 IDR0 0x094C100F', () => {
    // 0x0f: S2P, S1P, TTF=3; 0x10 in byte 1: ASID16 (bit 12); 0x4c in byte 2: VMID16 (18), CD2L (19),
    // TTENDIAN[22:21]=0b10; 0x09 in byte 3: STALL_MODEL[25:24]=1, ST_LEVEL[28:27]=1.
    const f = Idr0.decode(0x094c100f);
    expect(f).toMatchObject({ s2p: 1, s1p: 1, ttf: 3, asid16: 1, vmid16: 1, cd2l: 1, ttendian: 2, stallModel: 1, stLevel: 1, ats: 0, pri: 0 });
    expect(Idr0.encode(f)).toBe(0x094c100f);
  });

  it('encodes IDR0 from fields', () => {
    // S1P bit 1 + TTF=2 at 3:2 (0x8) + ATS bit 10 (0x400) + PRI bit 16 (0x10000) = 0x1040a
    expect(Idr0.encode({ s1p: 1, ttf: 2, ats: 1, pri: 1 })).toBe(0x1040a);
    expect(() => Idr0.encode({ ttf: 4 })).toThrow(RangeError);
  });

  it('decodes IDR1 and IDR5', () => {
    // gem5 IDR1 0x00E00000: CMDQS[25:21] = 0xe00000 >> 21 = 7
    expect(Idr1.decode(0x00e00000)).toMatchObject({ cmdqs: 7, eventqs: 0, sidsize: 0 });
    // SIDSIZE 16 [5:0], SSIDSIZE 20 [10:6] = 0x500, EVENTQS 19 << 16 = 0x130000, CMDQS 19 << 21 = 0x2600000, total 0x2730510
    expect(Idr1.encode({ sidsize: 16, ssidsize: 20, eventqs: 19, cmdqs: 19 })).toBe(0x2730510);
    // gem5 IDR5 0x55: OAS=0b101 (48 bits), GRAN4K bit 4, GRAN64K bit 6
    expect(Idr5.decode(0x55)).toMatchObject({ oas: 5, gran4k: 1, gran16k: 0, gran64k: 1 });
    expect(addrSizeBits(5)).toBe(48);
    expect(addrSizeEncoding(44)).toBe(4);
    expect(addrSizeBits(7)).toBe(52);
  });

  it('IIDR fields', () => {
    // ProductID 0x483 << 20, Implementer 0x43b (Arm)
    expect(Iidr.encode({ implementer: 0x43b, productId: 0x483 })).toBe(0x4830043b);
  });
});

describe('control registers', () => {
  it('CR0, GBPA, GERROR bits', () => {
    // The qtest enables with CR0 = 0xd: SMMUEN (0), EVTQEN (2), CMDQEN (3)
    expect(Cr0.decode(0xd)).toMatchObject({ smmuen: 1, priqen: 0, evtqen: 1, cmdqen: 1 });
    expect(Gbpa.encode({ update: 1, abort: 1 })).toBe(0x80100000);
    expect(Gerror.decode(0x101)).toMatchObject({ cmdqErr: 1, sfmErr: 1, eventqAbtErr: 0 });
  });
});

describe('stream table registers and L1 descriptors (IHI0070 6.3.23-24, 3.3.2)', () => {
  it('STRTAB_BASE_CFG of a 2-level table with 16-bit SIDs, split 8', () => {
    // FMT=1 << 16 = 0x10000, SPLIT=8 << 6 = 0x200, LOG2SIZE=16 = 0x10
    expect(StrtabBaseCfg.encode({ fmt: 1, split: 8, log2size: 16 })).toBe(0x10210);
    // the qtest's linear LOG2SIZE=5
    expect(StrtabBaseCfg.decode(0x5)).toEqual({ log2size: 5, split: 0, fmt: 0 });
  });

  it('STRTAB_BASE address and RA', () => {
    expect(StrtabBase.encode({ addr: 0x4e179000n, ra: 1 })).toEqual([0x4000_0000_4e17_9000n]);
    expect(() => StrtabBase.encode({ addr: 0x4e179020n })).toThrow(RangeError);
  });

  it('L1STD: SPAN 9 (256 STEs) at 0x80000000', () => {
    expect(L1Std.encode({ span: 9, l2ptr: 0x8000_0000n })).toEqual([0x8000_0009n]);
    expect(L1Std.decode([0x1_2345_6789n])).toEqual({ span: 9, l2ptr: 0x1_2345_6780n });
  });
});

describe('queues (IHI0070 3.5)', () => {
  it('decodes the qtest CMDQ_BASE 0x4e16b000 | 0x0a', () => {
    expect(QueueBase.decode([0x4e16_b00an])).toEqual({ log2size: 10, addr: 0x4e16_b000n, rwa: 0 });
  });

  it('wraps the index and toggles the wrap bit', () => {
    // 4 entries (log2size 2): index bits [1:0], wrap bit 2
    expect(queueInc(3, 2)).toBe(4);
    expect(queueIdx(4, 2)).toBe(0);
    expect(queueWrap(4, 2)).toBe(1);
    expect(queueInc(7, 2)).toBe(0);
    // OVFLG (bit 31) and ERR survive an increment
    expect(queueInc(0x8000_0003, 2)).toBe(0x8000_0004);
    expect(queueInc(0x0100_0007, 2)).toBe(0x0100_0000);
  });

  it('full and empty differ only in the wrap bit', () => {
    expect(queueEmpty(4, 4, 2)).toBe(true);
    expect(queueFull(4, 0, 2)).toBe(true);
    expect(queueEmpty(4, 0, 2)).toBe(false);
    expect(queueUsed(4, 0, 2)).toBe(4);
    expect(queueUsed(1, 6, 2)).toBe(3);
  });
});
