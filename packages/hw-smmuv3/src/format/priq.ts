// PRI queue records: 16 bytes, two little-endian u64 dwords (IHI0070 8.1), and what CMD_PRI_RESP's Resp means.
import { defineDwords } from './bitfield.js';

// IHI0070 8.1 PRI queue entry: dword 0 StreamID [31:0], SubstreamID [51:32], Priv 58, Exec 59, Read 60,
// Write 61, Last 62, SSV 63; dword 1 PRG index [8:0], the page address [63:12].
export const PriqRecord = defineDwords('PRIQ', 2, {
  sid: [0, 31, 0],
  ssid: [0, 51, 32],
  priv: [0, 58, 58],
  exec: [0, 59, 59],
  read: [0, 60, 60],
  write: [0, 61, 61],
  last: [0, 62, 62],
  ssv: [0, 63, 63],
  prgIndex: [1, 8, 0],
  addr: [1, 63, 12, 'addr'],
});

/**
 * CMD_PRI_RESP.Resp (arm-smmu-v3.h enum pri_resp; the PRI series names them by the PRG response they send):
 * 0 deny -> Response Failure, 1 fail -> Invalid Request, 2 success -> Success; 3 is reserved.
 */
export const PRI_RESP_DENY = 0;
export const PRI_RESP_FAIL = 1;
export const PRI_RESP_SUCC = 2;

/** PRG Response Message codes (PCIe 10.4.2) for Resp 0..2. */
export const PRI_RESP_TO_PRG: readonly number[] = [0xf, 0x1, 0x0];
