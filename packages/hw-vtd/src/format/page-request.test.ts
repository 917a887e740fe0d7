import { describe, expect, it } from 'vitest';
import { PageRequestDesc, PqaReg } from './page-request.js';
import { VCMD_CMD_ALLOC, VCMD_CMD_FREE, vcmdEncode, vcrspDecode, vcrspEncode, VCMD_VRSP_SC_NO_PASID_AVAIL } from './vcmd.js';

describe('page request descriptor (7.4.1.1)', () => {
  it('decodes the fields the kernel struct page_req_dsc names', () => {
    // qw0: type 1, PP (bit 8), RID 0x1803 (31:16), PASID 0xabcde (51:32), ER (52), PMR (53)
    // qw1: RD (0), WR (1), LPIG (2), PRGI 0x1ff (11:3) = 0xff8, address 0xffff_8000_0000_0000 (63:12)
    const d = PageRequestDesc.decode([0x003a_bcde_1803_0101n, 0xffff_8000_0000_0fffn, 0x1234n, 0n]);
    expect(d).toMatchObject({ type: 1, pasidPresent: true, rid: 0x1803, pasid: 0xabcde, exeReq: true, pmReq: true, rdReq: true, wrReq: true, lpig: true, prgi: 0x1ff, addr: 0xffff_8000_0000_0000n, privateData0: 0x1234n });
  });

  it('sizes the queue from PQA.PQS: 2^(PQS + 7) descriptors', () => {
    // The kernel's PQA value: base | PRQ_ORDER (4) -> 2048 descriptors of 32 bytes = 64 KiB.
    expect(PqaReg.decode(0x1234_5000n | 4n)).toEqual({ base: 0x1234_5000n, pqs: 4 });
    expect(PqaReg.entries(4)).toBe(2048);
    expect(PqaReg.entries(0)).toBe(128);
  });
});

describe('virtual command registers (10.4.43-10.4.45)', () => {
  it('encode commands with the operand at bit 16 and decode responses (IP bit 0, SC 7:1, PASID from bit 16)', () => {
    expect(vcmdEncode(VCMD_CMD_ALLOC)).toBe(1n);
    // Free PASID 0x12345: 0x12345 << 16 | 2
    expect(vcmdEncode(VCMD_CMD_FREE, 0x12345)).toBe(0x1_2345_0002n);
    // Success with PASID 7: 7 << 16; "no PASID available" is SC 16: 16 << 1 = 0x20.
    expect(vcrspEncode(0, 7)).toBe(0x7_0000n);
    expect(vcrspEncode(VCMD_VRSP_SC_NO_PASID_AVAIL)).toBe(0x20n);
    expect(vcrspDecode(0x7_0000n)).toEqual({ ip: false, sc: 0, pasid: 7 });
    expect(vcrspDecode(0x21n)).toEqual({ ip: true, sc: 16, pasid: 0 });
  });
});
