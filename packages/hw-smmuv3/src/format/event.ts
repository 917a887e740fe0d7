// Event queue records: 32 bytes, four little-endian u64 dwords (IHI0070 7.3).
import { defineDwords } from './bitfield.js';

/** Event type numbers (IHI0070 7.3, Table 7-1). */
export const EVT = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
} as const;

export type EventName = keyof typeof EVT;

export const EVT_NAMES: Readonly<Record<number, EventName>> = Object.fromEntries(Object.entries(EVT).map(([k, v]) => [v, k])) as Record<number, EventName>;

/** The name of an event type, or UNKNOWN_0xNN. */
export function eventName(id: number): string {
  return EVT_NAMES[id] ?? `UNKNOWN_0x${id.toString(16).padStart(2, '0')}`;
}

/** CLASS of a translation-related fault: the access that faulted (a CD fetch, a table walk, the input address). */
export const EVT_CLASS_CD = 0;
export const EVT_CLASS_TT = 1;
export const EVT_CLASS_IN = 2;
export const EVT_CLASS_NAMES: readonly string[] = ['CD', 'TTD', 'IN'];

// IHI0070 7.3 common layout: dword 0 type/SSV/SSID/SID; dword 1 the translation-fault fields;
// dword 2 the input address; dword 3 the IPA (S2 faults) or the fetch address (F_*_FETCH, F_WALK_EABT).
export const Evt = defineDwords('EVT', 4, {
  type: [0, 7, 0],
  ssv: [0, 11, 11],
  ssid: [0, 31, 12],
  sid: [0, 63, 32],
  stag: [1, 15, 0],
  stall: [1, 31, 31],
  pnu: [1, 33, 33],
  ind: [1, 34, 34],
  rnw: [1, 35, 35],
  s2: [1, 39, 39],
  class: [1, 41, 40],
  ttrnw: [1, 44, 44],
  addr: [2, 63, 0, 'u64'],
  addr2: [3, 51, 3, 'addr'],
});

/** dword 0 SID field [63:32] as a mask, for rewriting the StreamID of a record. */
export const EVT_0_SID_MASK = 0xffff_ffff_0000_0000n;
