import { describe, expect, it } from 'vitest';
import { hasReservedBits } from './bitfield.js';
import { contextEntryReserved, pdtsMaxPasid, ScalableContextEntry } from './context-entry.js';
import { FS_EA, FsPte } from './fs-pte.js';
import { PasidDirEntry, pasidDirEntryReserved } from './pasid-dir-entry.js';
import { PasidEntry, pasidEntryReserved } from './pasid-entry.js';
import { RootEntry, rootEntryReserved } from './root-entry.js';
import { SS, SsPte } from './ss-pte.js';

describe('scalable-mode root entry (9.2)', () => {
  it('puts LP/LCTP in the low qword and UP/UCTP in the high qword', () => {
    // lo = 0x1234_5000 | LP(1); hi = 0xabc_d000 | UP(1)
    expect(RootEntry.encode({ lowerPresent: true, lowerCtp: 0x1234_5000n, upperPresent: true, upperCtp: 0xabc_d000n })).toEqual([0x1234_5001n, 0xabc_d001n]);
    expect(RootEntry.decode([0x7000n, 0x8001n])).toEqual({ lowerPresent: false, lowerCtp: 0x7000n, upperPresent: true, upperCtp: 0x8000n });
  });

  it('reserves bits 11:1 and everything above HAW', () => {
    // HAW 46: bits 63:46 = 0xffffc000_00000000, plus 0xffe.
    expect(rootEntryReserved(46)).toEqual([0xffff_c000_0000_0ffen, 0xffff_c000_0000_0ffen]);
    expect(hasReservedBits([0x1003n, 0n], rootEntryReserved(46))).toBe(true);
    expect(hasReservedBits([0x3fff_ffff_f001n, 0n], rootEntryReserved(46))).toBe(false);
    expect(hasReservedBits([0x4000_0000_0001n, 0n], rootEntryReserved(46))).toBe(true);
  });

  it('refuses an unaligned table pointer', () => {
    expect(() => RootEntry.encode({ lowerCtp: 0x1234n })).toThrow(RangeError);
  });
});

describe('scalable-mode context entry (9.4)', () => {
  it('encodes P, DTE, PASIDE, PDTS, PASIDDIRPTR and RID_PASID at the spec positions', () => {
    // lo = 0x1234_5000 | PDTS 2 << 9 (0x400) | PASIDE 8 | DTE 4 | P 1 = 0x1234_540d; hi = RID_PASID 0x7 | RID_PRIV (1 << 20)
    const w = ScalableContextEntry.encode({ present: true, dte: true, pasidEnable: true, pdts: 2, pasidDirPtr: 0x1234_5000n, ridPasid: 7, ridPriv: true });
    expect(w).toEqual([0x1234_540dn, 0x10_0007n, 0n, 0n]);
    expect(ScalableContextEntry.decode([0x9000_0013n, 0x5n, 0n, 0n])).toMatchObject({ present: true, fpd: true, pre: true, pdts: 0, pasidDirPtr: 0x9000_0000n, ridPasid: 5 });
  });

  it('knows the reserved fields and the PASID range of a PDTS', () => {
    const r = contextEntryReserved(46);
    expect(hasReservedBits([0x1000n | 0x20n, 0n, 0n, 0n], r)).toBe(true); // bit 5
    expect(hasReservedBits([0x1001n, 1n << 21n, 0n, 0n], r)).toBe(true); // bit 85
    expect(hasReservedBits([0x1001n, 0n, 0n, 1n], r)).toBe(true); // bit 192
    expect(hasReservedBits([0x1e0fn, 0x1f_ffffn, 0n, 0n], r)).toBe(false);
    // PDTS 2: 2^9 directory entries x 64 PASIDs = 32768; PDTS 6: 2^13 x 64 = 2^19.
    expect(pdtsMaxPasid(2)).toBe(32768);
    expect(pdtsMaxPasid(6)).toBe(2 ** 19);
  });
});

describe('PASID directory entry (9.5)', () => {
  it('encodes P, FPD and the table pointer', () => {
    expect(PasidDirEntry.encode({ present: true, fpd: true, pasidTablePtr: 0x5_6000n })).toEqual([0x5_6003n]);
    expect(PasidDirEntry.decode([0x7_7001n])).toEqual({ present: true, fpd: false, pasidTablePtr: 0x7_7000n });
    expect(hasReservedBits([0x7_7005n], pasidDirEntryReserved(46))).toBe(true); // bit 2
  });
});

describe('scalable-mode PASID table entry (9.6)', () => {
  it('encodes a nested entry the way intel_pasid_setup_nested lays it out', () => {
    // val0 = SSPTPTR 0x20_0000 | PGTT 3 << 6 (0xc0) | SSADE (0x200) | AW 2 << 2 (0x8) | P = 0x20_02c9
    // val1 = DID 0x12 | PWSNP (1 << 23) = 0x80_0012
    // val2 = FSPTPTR 0x30_0000 | EAFE (0x80) | WPE (0x10) | FSPM 1 << 2 (0x4) | SRE 1 = 0x30_0095
    const w = PasidEntry.encode({
      present: true,
      aw: 2,
      pgtt: 3,
      ssade: true,
      ssptptr: 0x20_0000n,
      did: 0x12,
      pwsnp: true,
      sre: true,
      fspm: 1,
      wpe: true,
      eafe: true,
      fsptptr: 0x30_0000n,
    });
    expect(w).toEqual([0x20_02c9n, 0x80_0012n, 0x30_0095n, 0n, 0n, 0n, 0n, 0n]);
    expect(PasidEntry.decode(w)).toMatchObject({ present: true, aw: 2, pgtt: 3, ssade: true, did: 0x12, fspm: 1, sre: true, wpe: true, eafe: true, ere: false, fsptptr: 0x30_0000n });
  });

  it('reserves 11:10, 86:80, 139:136 and 511:192', () => {
    const r = pasidEntryReserved(46);
    const ok = [0x20_02c9n, 0x80_0012n, 0x30_0095n, 0n, 0n, 0n, 0n, 0n];
    expect(hasReservedBits(ok, r)).toBe(false);
    expect(hasReservedBits([0x20_06c9n, ...ok.slice(1)], r)).toBe(true); // bit 10
    expect(hasReservedBits([ok[0]!, 0x81_0012n, ...ok.slice(2)], r)).toBe(true); // bit 80
    expect(hasReservedBits([ok[0]!, ok[1]!, 0x30_0195n, ...ok.slice(3)], r)).toBe(true); // bit 136
    expect(hasReservedBits([...ok.slice(0, 7), 1n << 63n], r)).toBe(true); // bit 511
  });
});

describe('second-stage paging entry (9.8)', () => {
  it('has R/W/X, PS, A, D, SNP at bits 0, 1, 2, 7, 8, 9, 11', () => {
    // 2 MiB leaf at 0x4020_0000, R W PS A D SNP: 0x4020_0000 | 0x1 | 0x2 | 0x80 | 0x100 | 0x200 | 0x800 = 0x4020_0b83
    expect(SsPte.encode({ read: true, write: true, pageSize: true, accessed: true, dirty: true, snp: true, addr: 0x4020_0000n })).toBe(0x4020_0b83n);
    expect(SsPte.decode(0x4000_0000_0000_1001n)).toMatchObject({ read: true, write: false, tm: true, addr: 0x1000n });
    expect(SS.D | SS.A | SS.PS).toBe(0x380);
  });
});

describe('first-stage paging entry (9.7)', () => {
  it('is the x86-64 entry with EA at bit 10 and XD at bit 63', () => {
    // P RW US A EA XD at 0x5000: 0x8000_0000_0000_5000 | 0x1 | 0x2 | 0x4 | 0x20 | 0x400 = 0x8000_0000_0000_5427
    expect(FsPte.encode({ present: true, writable: true, user: true, accessed: true, extendedAccessed: true, xd: true, addr: 0x5000n })).toBe(0x8000_0000_0000_5427n);
    expect(FsPte.decode(0x8000_0000_0000_5427n)).toMatchObject({ extendedAccessed: true, xd: true, dirty: false });
    expect(FS_EA).toBe(0x400);
  });
});
