import { describe, expect, it } from 'vitest';
import { MAX_AGAW_PFN_WIDTH, psiAlignedAddress } from './cache.js';
import { PASID_ENTRY_PGTT_FL_ONLY, PASID_ENTRY_PGTT_SL_ONLY } from '@iommu-lab/hw-vtd/format';
import { encodePasidEntry } from './pasid.js';
import { QiBatch } from './qi.js';

const qw = (w: Uint32Array, desc: number, q: number) => (BigInt(w[desc * 8 + 2 * q + 1]!) << 32n) | BigInt(w[desc * 8 + 2 * q]!);

describe('the guest driver builds descriptors as the kernel macros do', () => {
  it('qi_desc_piotlb: PASID << 32 | DID << 16 | G 3 << 4 | type 6; ADDR | IH << 6 | AM', () => {
    const b = new QiBatch();
    b.piotlb(5, 0x12, 0xfffff, 3, true, false);
    expect(qw(b.words, 0, 0)).toBe(0x12_0005_0036n);
    expect(qw(b.words, 0, 1)).toBe(0xffff_f043n);
  });

  it('qi_desc_piotlb_all: G 2, no address', () => {
    const b = new QiBatch();
    b.piotlb(5, 0, 0, 0, false, true);
    expect([qw(b.words, 0, 0), qw(b.words, 0, 1)]).toEqual([0x5_0026n, 0n]);
  });

  it('qi_desc_iotlb: DID | DR 7 | DW 6 | G << 4 | type 2; a PSI above 4 GiB keeps the high address bits', () => {
    const b = new QiBatch();
    b.iotlb(0x10, 3, 0x1_2345_6, 2, false, true);
    expect(qw(b.words, 0, 0)).toBe(0x10_00f2n);
    expect(qw(b.words, 0, 1)).toBe(0x1_2345_6002n);
  });

  it('qi_flush_context and qi_flush_pasid_cache', () => {
    const b = new QiBatch();
    // Device-selective: SID 0x18 << 32 | FM 0 | G 3 << 4 | type 1.
    b.context(0, 0x18, 0, 3);
    // PASID-selective (G 1) for DID 2, PASID 0.
    b.pasidCache(2, 1, 0);
    expect([qw(b.words, 0, 0), qw(b.words, 1, 0)]).toEqual([0x18_0000_0031n, 0x2_0017n]);
    expect(b.count).toBe(2);
  });

  it('pasid_pte_config_first_level / _second_level', () => {
    const w = new Uint32Array(16);
    encodePasidEntry({ pgtt: PASID_ENTRY_PGTT_FL_ONLY, did: 2, aw: 2, ptr: 0x10_6000, fl5: false, pwsnp: false }, w);
    // val[0]: PGTT 1 << 6 | AW 2 << 2 | P = 0x49; val[1]: DID 2; val[2]: FSPTPTR.
    expect([qw(w, 0, 0), qw(w, 0, 1), qw(w, 0, 2)]).toEqual([0x49n, 2n, 0x10_6000n]);
    encodePasidEntry({ pgtt: PASID_ENTRY_PGTT_SL_ONLY, did: 3, aw: 1, ptr: 0x1_0000_6000, fl5: false, pwsnp: true }, w);
    // val[0]: SSPTPTR | PGTT 2 << 6 | AW 1 << 2 | P = ...0x6085; val[1]: PWSNP 87 (bit 23) | DID 3.
    expect([qw(w, 0, 0), qw(w, 0, 1), qw(w, 0, 2)]).toEqual([0x1_0000_6085n, 0x80_0003n, 0n]);
  });

  it('calculate_psi_aligned_address', () => {
    expect(psiAlignedAddress(0x100, 0x100)).toEqual({ pfn: 0x100, mask: 0 });
    // Pages 0x101..0x102 differ in bit 2 of the page number (0x101 ^ 0x102 = 3 -> fls 2): 4 pages from 0x100.
    expect(psiAlignedAddress(0x101, 0x102)).toEqual({ pfn: 0x100, mask: 2 });
    expect(psiAlignedAddress(0x1_0000_0000, 0x1_0000_0001)).toEqual({ pfn: 0x1_0000_0000, mask: 1 });
    expect(psiAlignedAddress(0, 2 ** 52 - 1)).toEqual({ pfn: 0, mask: MAX_AGAW_PFN_WIDTH });
  });
});
