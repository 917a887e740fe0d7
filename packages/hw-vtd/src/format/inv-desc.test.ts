import { describe, expect, it } from 'vitest';
import { hasReservedBits } from './bitfield.js';
import {
  ContextCacheInvDesc,
  DevTlbInvDesc,
  IecInvDesc,
  INV_DESC_RESERVED,
  invDescType,
  InvWaitDesc,
  IotlbInvDesc,
  PageGroupResponseDesc,
  PasidCacheInvDesc,
  PasidDevTlbInvDesc,
  PasidIotlbInvDesc,
  QI_CC_TYPE,
  QI_EIOTLB_TYPE,
  QI_IOTLB_TYPE,
  QI_IWD_TYPE,
  QI_PC_TYPE,
} from './inv-desc.js';

describe('invalidation descriptors (6.5.2)', () => {
  it('context-cache: device-selective for SID 0x0100 (qi_flush_context with DMA_CCMD_DEVICE_INVL)', () => {
    // qw0 = SID 0x100 << 32 | G 3 << 4 (0x30) | type 1 = 0x100_0000_0031
    expect(ContextCacheInvDesc.encode({ type: 1, g: 3, sid: 0x100 })).toEqual([0x100_0000_0031n, 0n, 0n, 0n]);
  });

  it('PASID-cache: PASID-selective within domain 5 for PASID 0x33', () => {
    // qw0 = PASID 0x33 << 32 | DID 5 << 16 | G 1 << 4 | type 7 = 0x33_0005_0017
    expect(PasidCacheInvDesc.encode({ type: 7, g: 1, did: 5, pasid: 0x33 })).toEqual([0x33_0005_0017n, 0n, 0n, 0n]);
  });

  it('IOTLB: page-selective, DID 9, 2^4 pages at 0x10_0000 with IH', () => {
    // qw0 = DID 9 << 16 | G 3 << 4 | type 2 = 0x9_0032; qw1 = 0x10_0000 | IH 0x40 | AM 4 = 0x10_0044
    const w = IotlbInvDesc.encode({ type: 2, g: 3, did: 9, addr: 0x10_0000n, ih: true, am: 4 });
    expect(w).toEqual([0x9_0032n, 0x10_0044n, 0n, 0n]);
    expect(IotlbInvDesc.decode(w)).toMatchObject({ g: 3, did: 9, am: 4, ih: true, addr: 0x10_0000n });
  });

  it('PASID-based IOTLB: all-in-PASID (qi_desc_piotlb_all) and page-selective', () => {
    // qw0 = PASID 1 << 32 | DID 3 << 16 | G 2 << 4 | type 6 = 0x1_0003_0026
    expect(PasidIotlbInvDesc.encode({ type: 6, g: 2, did: 3, pasid: 1 })).toEqual([0x1_0003_0026n, 0n, 0n, 0n]);
    expect(PasidIotlbInvDesc.decode([0x1_0003_0036n, 0x7000_0040n, 0n, 0n])).toMatchObject({ g: 3, pasid: 1, did: 3, ih: true, am: 0, addr: 0x7000_0000n });
  });

  it('device-TLB: full flush as qi_desc_dev_iotlb(mask 52) encodes it', () => {
    // addr |= (1 << (12 + 52 - 1)) - 1 -> 0x7fff_ffff_ffff_ffff, masked to 63:12, with S: qw1 = 0x7fff_ffff_ffff_f001
    // qw0 = SID 0x100 << 32 | QDEP(MIP) 0 | type 3 = 0x100_0000_0003
    const w = DevTlbInvDesc.encode({ type: 3, sid: 0x100, s: true, addr: 0x7fff_ffff_ffff_f000n });
    expect(w).toEqual([0x100_0000_0003n, 0x7fff_ffff_ffff_f001n, 0n, 0n]);
  });

  it('PASID-based device-TLB: SID at 31:16, PASID at 51:32, S at bit 11', () => {
    // qw0 = PASID 2 << 32 | SID 0x100 << 16 | type 8 = 0x2_0100_0008; qw1 = 0x7000 | S 0x800 = 0x7800
    expect(PasidDevTlbInvDesc.encode({ type: 8, sid: 0x100, pasid: 2, s: true, addr: 0x7000n })).toEqual([0x2_0100_0008n, 0x7800n, 0n, 0n]);
  });

  it('wait: status write of QI_DONE (2) to an address, as qi_submit_sync appends it', () => {
    // qw0 = 2 << 32 | SW 0x20 | type 5 = 0x2_0000_0025; qw1 = 0x12_3458
    const w = InvWaitDesc.encode({ type: 5, sw: true, statusData: 2, statusAddr: 0x12_3458n });
    expect(w).toEqual([0x2_0000_0025n, 0x12_3458n, 0n, 0n]);
    expect(() => InvWaitDesc.encode({ statusAddr: 0x12_3459n })).toThrow(RangeError);
  });

  it('IEC and page group response', () => {
    // IEC global: type 4 | G 0x10 = 0x14
    expect(IecInvDesc.encode({ type: 4, g: true })).toEqual([0x14n, 0n, 0n, 0n]);
    // PASID 0x10 << 32 | RID 0x100 << 16 | resp 1 << 12 | PP 0x10 | type 9 = 0x10_0100_1019; qw1 = LPIG 4 | PRGI 5 << 3 = 0x2c
    expect(PageGroupResponseDesc.encode({ type: 9, pasidPresent: true, respCode: 1, rid: 0x100, pasid: 0x10, lpig: true, prgi: 5 })).toEqual([0x10_0100_1019n, 0x2cn, 0n, 0n]);
  });

  it('reads the type from bits 3:0 and 11:9 and flags reserved fields', () => {
    expect(invDescType(0x26n)).toBe(QI_EIOTLB_TYPE);
    expect(invDescType(0x205n)).toBe(0x15);
    expect(hasReservedBits([0x9_0132n, 0n, 0n, 0n], INV_DESC_RESERVED[QI_IOTLB_TYPE]!)).toBe(true); // bit 8
    expect(hasReservedBits([0x9_0032n, 0x80n, 0n, 0n], INV_DESC_RESERVED[QI_IOTLB_TYPE]!)).toBe(true); // qw1 bit 7
    expect(hasReservedBits([0x31n, 0n, 0n, 1n], INV_DESC_RESERVED[QI_CC_TYPE]!)).toBe(true); // qw3
    expect(hasReservedBits([0x2_0000_0025n, 0x12_3459n, 0n, 0n], INV_DESC_RESERVED[QI_IWD_TYPE]!)).toBe(true);
    expect(hasReservedBits([0x33_0005_0017n, 0n, 0n, 0n], INV_DESC_RESERVED[QI_PC_TYPE]!)).toBe(false);
  });
});
