import { describe, expect, it } from 'vitest';
import { PRI_RESP_TO_PRG, PriqRecord } from './priq.js';

describe('PRI queue records (IHI0070 8.1)', () => {
  it('a write request with a PASID that ends its group', () => {
    // SID 0x200 [31:0]; SSID 5 [51:32] -> 0x5_0000_0200; Write bit 61, Last 62, SSV 63 -> 0xe000_0000_0000_0000
    // dword 1: PRG index 0x1a5 [8:0] | page 0x7f12_3400_0000 [63:12]
    const dw = PriqRecord.encode({ sid: 0x200, ssid: 5, write: 1, last: 1, ssv: 1, prgIndex: 0x1a5, addr: 0x7f12_3400_0000n });
    expect(dw).toEqual([0xe000_0005_0000_0200n, 0x7f12_3400_01a5n]);
  });

  it('decodes the permission bits from their places', () => {
    // Priv 58 (0x0400...), Exec 59 (0x0800...), Read 60 (0x1000...): 0x1c00_0000_0000_0018
    expect(PriqRecord.decode([0x1c00_0000_0000_0018n, 0x3000n])).toMatchObject({ sid: 0x18, ssid: 0, priv: 1, exec: 1, read: 1, write: 0, last: 0, ssv: 0, prgIndex: 0, addr: 0x3000n });
  });

  it('Resp 0/1/2 become Response Failure (0xf), Invalid Request (1) and Success (0)', () => {
    expect(PRI_RESP_TO_PRG).toEqual([0xf, 1, 0]);
  });
});
