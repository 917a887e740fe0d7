import { describe, expect, it } from 'vitest';
import { awToLevels, capMgaw, capNdoms, VtdCap, VtdEcap } from './cap.js';
import { FaultRecord } from './fault-record.js';
import { SM_FAULT_REASONS, vtdFaultReasonName } from './fault-reasons.js';
import { IqaReg, IqerReg } from './registers.js';

describe('CAP_REG and ECAP_REG (10.4.2, 10.4.3)', () => {
  it('decodes the QEMU default CAP value field by field', () => {
    // QEMU (aw 48): FRO 0x220 >> 4 = 0x22 << 24, NFR 0, ND 6, MAMV 18 << 48, PSI bit 39, SSLPS bits 34-35,
    // SAGAW 0x6 << 8 (39+48), MGAW 47 << 16. MAMV 0x12 << 48 = 0x0012_0000_0000_0000,
    // PSI 0x80_0000_0000, SSLPS 0xc_0000_0000, FRO 0x22 << 24 = 0x2200_0000, MGAW 0x2f_0000, SAGAW 0x600, ND 6.
    const cap = 0x0012_008c_222f_0606n;
    expect(VtdCap.decode([cap])).toMatchObject({ nd: 6, sagaw: 6, mgaw: 47, fro: 0x22, sslps: 3, psi: true, nfr: 0, mamv: 18, cm: false, fs1gp: false });
    expect(capMgaw(cap)).toBe(48);
    expect(capNdoms(cap)).toBe(65536);
    expect(VtdCap.encode({ nd: 6, sagaw: 6, mgaw: 47, fro: 0x22, sslps: 3, psi: true, mamv: 18 })).toEqual([cap]);
    expect(VtdCap.encode({ fs1gp: true, fs5lp: true, cm: true })).toEqual([(1n << 56n) | (1n << 60n) | 0x80n]);
  });

  it('decodes ECAP: SMTS, FSTS, SSTS, NEST, PASID and PSS', () => {
    // SMTS 43, FSTS 47, SSTS 46, NEST 26, PASID 40, PSS 19 << 35, QI 1, IRO 0xf << 8:
    // 0x8000_0000_0000 | 0x4000_0000_0000 | 0x800_0000_0000 | 0x100_0000_0000 | 0x98_0000_0000 | 0x400_0000 | 0xf00 | 0x2
    const ecap = 0xc998_0400_0f02n;
    expect(VtdEcap.decode([ecap])).toMatchObject({ qi: true, iro: 0xf, nest: true, pss: 19, pasid: true, smts: true, ssts: true, fsts: true, ssads: false });
    expect(VtdEcap.encode({ qi: true, iro: 0xf, nest: true, pss: 19, pasid: true, smts: true, ssts: true, fsts: true })).toEqual([ecap]);
    expect(awToLevels(2)).toBe(4);
  });

  it('encodes IQA and IQER', () => {
    // base 0x7_f000, DW 1 (bit 11), QS 1 = 0x7_f801; 2^(1+7) = 256 256-bit descriptors
    expect(IqaReg.encode({ base: 0x7_f000n, dw: 1, qs: 1 })).toBe(0x7_f801n);
    expect(IqaReg.entries(IqaReg.decode(0x7_f801n))).toBe(256);
    expect(IqaReg.entries({ base: 0n, dw: 0, qs: 0 })).toBe(256);
    expect(IqerReg.encode({ iqei: 4, itesid: 0x100 })).toBe(0x100_0000_0004n);
  });
});

describe('fault recording register (10.4.14)', () => {
  it('places SID, PP, FR, PASID, T and F as the kernel decodes them', () => {
    // hi = F (bit 63) | T read (bit 62) | PASID 0x5 << 40 | FR 0x71 << 32 | PP (bit 31) | SID 0x0100
    // = 0x8000_0000_0000_0000 | 0x4000_0000_0000_0000 | 0x500_0000_0000 | 0x71_0000_0000 | 0x8000_0000 | 0x100
    const w = FaultRecord.encode({ faultInfo: 0x1234_5000n, sid: 0x100, pasidPresent: true, reason: 0x71, pasid: 5, type: true, fault: true });
    expect(w).toEqual([0x1234_5000n, 0xc000_0571_8000_0100n]);
    // The kernel's dword view: (hi >> 32) bits 7:0 = FR, 27:8 = PASID, bit 30 = T, bit 31 = F.
    const dw3 = Number(w[1]! >> 32n);
    expect([dw3 & 0xff, (dw3 >>> 8) & 0xfffff, (dw3 >>> 30) & 1, dw3 >>> 31]).toEqual([0x71, 5, 1, 1]);
  });

  it('names every scalable-mode reason from 0x30 to 0x91', () => {
    expect(SM_FAULT_REASONS.size).toBe(47);
    expect(vtdFaultReasonName(0x59)).toBe('SM: Present bit in PASID Table Entry is clear');
    expect(vtdFaultReasonName(0x91)).toMatch(/A\/D/);
    expect(vtdFaultReasonName(0x33)).toBe('Unknown');
  });
});
