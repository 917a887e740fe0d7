import { genmask } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { Cd, L1Cd, LINUX_MAIR } from './cd.js';
import { Ste, STE_0_NESTING_ALLOWED, STE_1_NESTING_ALLOWED, STE_CFG_NESTED } from './ste.js';

describe('STE (IHI0070 5.2)', () => {
  it('has the kernel nesting masks, bit by bit', () => {
    // dword 0: V(0) | Config(3:1) | S1Fmt(5:4) | S1ContextPtr(51:6) | S1CDMax(63:59)
    expect(STE_0_NESTING_ALLOWED).toBe(genmask(51, 0) | genmask(63, 59));
    expect(STE_0_NESTING_ALLOWED).toBe(0xf80fffffffffffffn);
    // dword 1: S1DSS(1:0) S1CIR(3:2) S1COR(5:4) S1CSH(7:6) = 0xff, S1STALLD bit 27, EATS 29:28
    expect(STE_1_NESTING_ALLOWED).toBe(0x380000ffn);
    const f = Ste.fields;
    const mask = (names: string[]) => names.reduce((m, n) => m | genmask(f[n]![1], f[n]![2]), 0n);
    expect(mask(['v', 'config', 's1fmt', 's1ContextPtr', 's1cdmax'])).toBe(STE_0_NESTING_ALLOWED);
    expect(mask(['s1dss', 's1cir', 's1cor', 's1csh', 's1stalld', 'eats'])).toBe(STE_1_NESTING_ALLOWED);
  });

  it('encodes the QEMU qtest nested STE', () => {
    // qos-smmuv3.c: Config 7, V, S2T0SZ 0x14, S2SL0 2, S2TG 0, S2PS 5, S2AA64, CD at 0x4e179000 - 0x40,
    // S2TTB 0x4e4d0000 (both + the 0x40000000 RAM offset).
    const dw = Ste.encode({ v: 1, config: STE_CFG_NESTED, s1ContextPtr: 0x4e178fc0n, s2t0sz: 0x14, s2sl0: 2, s2tg: 0, s2ps: 5, s2aa64: 1, s2ttb: 0x4e4d0000n });
    // dword 0: 0x4e178fc0 | Config 7 << 1 (0xe) | V = 0x4e178fcf
    expect(dw[0]).toBe(0x4e178fcfn);
    expect(dw[1]).toBe(0n);
    // dword 2 high word: S2T0SZ 0x14 | S2SL0 2 << 6 (0x80) | S2PS 5 << 16 | S2AA64 1 << 19 = 0x000d0094
    expect(dw[2]).toBe(0x000d_0094_0000_0000n);
    expect(dw[3]).toBe(0x4e4d0000n);
    expect(dw.slice(4)).toEqual([0n, 0n, 0n, 0n]);
    expect(Ste.decode(dw)).toMatchObject({ v: 1, config: 7, s2t0sz: 20, s2sl0: 2, s2ps: 5, s2aa64: 1, s1ContextPtr: 0x4e178fc0n, s2ttb: 0x4e4d0000n });
  });

  it('decodes a Linux S2 STE', () => {
    // arm_smmu_make_s2_domain_ste: VMID 1, S2T0SZ 16, SL0 2, IR0=OR0=1, SH0=3, S2PS 5, S2AA64, S2PTW, S2R
    // high word of dword 2: 0x10 | 2<<6 | 1<<8 | 1<<10 | 3<<12 | 5<<16 | 1<<19 | 1<<22 | 1<<26 = 0x044d3590
    const f = Ste.decode([0xdn, 0n, 0x044d_3590_0000_0001n, 0x8020_0000n]);
    expect(f).toMatchObject({ v: 1, config: 6, s2vmid: 1, s2t0sz: 16, s2sl0: 2, s2ir0: 1, s2or0: 1, s2sh0: 3, s2tg: 0, s2ps: 5, s2aa64: 1, s2ptw: 1, s2r: 1, s2s: 0, s2ttb: 0x8020_0000n });
  });
});

describe('CD (IHI0070 5.4)', () => {
  it('encodes the QEMU qtest CD', () => {
    // ASID 0x1e20, AA64, V, A, IPS 4, EPD1, T0SZ 0x10, TG0 0, NSCFG0/1, R, TTB0 0x4e4d0000.
    // dword 0 low: V (bit 31) | EPD1 (bit 30) | T0SZ 0x10 = 0xc0000010; high: ASID << 16 | A (14) |
    // R (13) | AA64 (9) | IPS 4 = 0x1e206204.
    const dw = Cd.encode({ asid: 0x1e20, aa64: 1, v: 1, a: 1, ips: 4, epd1: 1, t0sz: 0x10, nscfg0: 1, nscfg1: 1, r: 1, ttb0: 0x4e4d0000n });
    expect(dw[0]).toBe(0x1e206204c0000010n);
    expect(dw[1]).toBe(0x4e4d0001n);
    expect(dw[2]).toBe(1n);
  });

  it('decodes a Linux S1 CD (arm_smmu_make_s1_cd)', () => {
    // T0SZ 16, IRGN0 1 << 8, ORGN0 1 << 10, SH0 3 << 12, EPD1, V = 0xc0003510; IPS 5, AA64, R, A, ASET (bit 47),
    // ASID 1 = 0x0001e205; MAIR in dword 3.
    const f = Cd.decode([0x0001e205c0003510n, 0x8040_0000n, 0n, LINUX_MAIR]);
    expect(f).toMatchObject({ t0sz: 16, tg0: 0, ir0: 1, or0: 1, sh0: 3, epd0: 0, epd1: 1, v: 1, ips: 5, aa64: 1, r: 1, a: 1, aset: 1, asid: 1, s: 0, ttb0: 0x8040_0000n, mair: 0xf404ff44n });
  });

  it('L1CD: V and a 4 KiB aligned L2 pointer', () => {
    expect(L1Cd.encode({ v: 1, l2ptr: 0x1234_5000n })).toEqual([0x1234_5001n]);
    expect(() => L1Cd.encode({ v: 1, l2ptr: 0x1234_5040n })).toThrow(RangeError);
  });
});
