// Command queue entries: 16 bytes, two little-endian u64 dwords (IHI0070 4.1-4.7).
import { type DwordCodec, defineDwords, fieldMask } from './bitfield.js';

/** Command opcodes (IHI0070 4.1.1), dword 0 bits [7:0]. */
export const CMDQ_OP = {
  PREFETCH_CONFIG: 0x01,
  PREFETCH_ADDR: 0x02,
  CFGI_STE: 0x03,
  CFGI_STE_RANGE: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  CFGI_VMS_PIDM: 0x07,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL3_ALL: 0x18,
  TLBI_EL3_VA: 0x1a,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  STALL_TERM: 0x45,
  CMD_SYNC: 0x46,
} as const;

export type CmdName = keyof typeof CMDQ_OP;

export const CMDQ_OP_NAMES: Readonly<Record<number, CmdName>> = Object.fromEntries(
  Object.entries(CMDQ_OP).map(([k, v]) => [v, k as CmdName]),
) as Record<number, CmdName>;

/** Common dword 0 bits: SSec (bit 10, Secure queue only) and SSV (bit 11). */
export const CMD_SSEC_BIT = 10;

// IHI0070 4.2.1-4.2.2 CMD_PREFETCH_CONFIG, CMD_PREFETCH_ADDR
export const CmdPrefetch = defineDwords('CMD_PREFETCH', 2, {
  op: [0, 7, 0],
  ssv: [0, 11, 11],
  ssid: [0, 31, 12],
  sid: [0, 63, 32],
  size: [1, 4, 0],
  addr: [1, 63, 12, 'addr'],
});
const CmdPrefetchConfig = defineDwords('CMD_PREFETCH_CONFIG', 2, { op: [0, 7, 0], ssv: [0, 11, 11], ssid: [0, 31, 12], sid: [0, 63, 32] });

// IHI0070 4.3.1-4.3.4 CMD_CFGI_STE, CMD_CFGI_STE_RANGE (Range 31 = CMD_CFGI_ALL), CMD_CFGI_CD, CMD_CFGI_CD_ALL
export const CmdCfgi = defineDwords('CMD_CFGI', 2, {
  op: [0, 7, 0],
  ssid: [0, 31, 12],
  sid: [0, 63, 32],
  leaf: [1, 0, 0],
  range: [1, 4, 0],
});
const CmdCfgiSte = defineDwords('CMD_CFGI_STE', 2, { op: [0, 7, 0], sid: [0, 63, 32], leaf: [1, 0, 0] });
const CmdCfgiSteRange = defineDwords('CMD_CFGI_STE_RANGE', 2, { op: [0, 7, 0], sid: [0, 63, 32], range: [1, 4, 0] });
const CmdCfgiCd = defineDwords('CMD_CFGI_CD', 2, { op: [0, 7, 0], ssid: [0, 31, 12], sid: [0, 63, 32], leaf: [1, 0, 0] });
const CmdCfgiCdAll = defineDwords('CMD_CFGI_CD_ALL', 2, { op: [0, 7, 0], sid: [0, 63, 32] });

// IHI0070 4.4 TLB invalidation: NUM/SCALE give a range of (NUM+1) << SCALE granules of TG (RIL)
export const CmdTlbi = defineDwords('CMD_TLBI', 2, {
  op: [0, 7, 0],
  num: [0, 16, 12],
  scale: [0, 25, 20],
  vmid: [0, 47, 32],
  asid: [0, 63, 48],
  leaf: [1, 0, 0],
  ttl: [1, 9, 8],
  tg: [1, 11, 10],
  addr: [1, 63, 12, 'addr'],
});
const TlbiVmid = defineDwords('CMD_TLBI_VMID', 2, { op: [0, 7, 0], vmid: [0, 47, 32] });
const TlbiAsid = defineDwords('CMD_TLBI_NH_ASID', 2, { op: [0, 7, 0], vmid: [0, 47, 32], asid: [0, 63, 48] });
const ElRange = { op: [0, 7, 0], num: [0, 16, 12], scale: [0, 25, 20], leaf: [1, 0, 0], ttl: [1, 9, 8], tg: [1, 11, 10] } as const;
const TlbiRange = { ...ElRange, vmid: [0, 47, 32] } as const;
const TlbiVa = defineDwords('CMD_TLBI_NH_VA', 2, { ...TlbiRange, asid: [0, 63, 48], addr: [1, 63, 12, 'addr'] });
const TlbiVaa = defineDwords('CMD_TLBI_NH_VAA', 2, { ...TlbiRange, addr: [1, 63, 12, 'addr'] });
const TlbiIpa = defineDwords('CMD_TLBI_S2_IPA', 2, { ...TlbiRange, addr: [1, 51, 12, 'addr'] });
const ElVa = defineDwords('CMD_TLBI_EL_VA', 2, { ...ElRange, asid: [0, 63, 48], addr: [1, 63, 12, 'addr'] });
const ElVaa = defineDwords('CMD_TLBI_EL_VAA', 2, { ...ElRange, addr: [1, 63, 12, 'addr'] });
const OpOnly = defineDwords('CMD', 2, { op: [0, 7, 0] });

// IHI0070 4.5.1 CMD_ATC_INV: Size is log2 of the span in 4 KiB pages (52 = everything)
export const CmdAtcInv = defineDwords('CMD_ATC_INV', 2, {
  op: [0, 7, 0],
  global: [0, 9, 9],
  ssv: [0, 11, 11],
  ssid: [0, 31, 12],
  sid: [0, 63, 32],
  size: [1, 5, 0],
  addr: [1, 63, 12, 'addr'],
});
export const ATC_INV_SIZE_ALL = 52;

// IHI0070 4.6.1 CMD_PRI_RESP: Resp 0 deny, 1 fail, 2 success
export const CmdPriResp = defineDwords('CMD_PRI_RESP', 2, {
  op: [0, 7, 0],
  ssv: [0, 11, 11],
  ssid: [0, 31, 12],
  sid: [0, 63, 32],
  prgIndex: [1, 8, 0],
  resp: [1, 13, 12],
});

// IHI0070 4.6.2-4.6.3 CMD_RESUME (Action 0 terminate, 1 retry, 2 abort), CMD_STALL_TERM
export const CmdResume = defineDwords('CMD_RESUME', 2, { op: [0, 7, 0], action: [0, 13, 12], sid: [0, 63, 32], stag: [1, 15, 0] });
export const CmdStallTerm = defineDwords('CMD_STALL_TERM', 2, { op: [0, 7, 0], sid: [0, 63, 32] });
export const RESUME_TERMINATE = 0;
export const RESUME_RETRY = 1;
export const RESUME_ABORT = 2;

// IHI0070 4.7.3 CMD_SYNC: CS 0 none, 1 IRQ/MSI write of MSIData to MSIAddr, 2 SEV
export const CmdSync = defineDwords('CMD_SYNC', 2, {
  op: [0, 7, 0],
  cs: [0, 13, 12],
  msh: [0, 23, 22],
  msiAttr: [0, 27, 24],
  msiData: [0, 63, 32],
  msiAddr: [1, 51, 2, 'addr'],
});
export const CMD_SYNC_CS_NONE = 0;
export const CMD_SYNC_CS_IRQ = 1;
export const CMD_SYNC_CS_SEV = 2;

/** Which codec lays out each opcode's fields; an opcode missing here is not a command. */
export const CMD_LAYOUT: Readonly<Record<number, DwordCodec<Record<string, number | bigint>>>> = {
  [CMDQ_OP.PREFETCH_CONFIG]: CmdPrefetchConfig,
  [CMDQ_OP.PREFETCH_ADDR]: CmdPrefetch,
  [CMDQ_OP.CFGI_STE]: CmdCfgiSte,
  [CMDQ_OP.CFGI_STE_RANGE]: CmdCfgiSteRange,
  [CMDQ_OP.CFGI_CD]: CmdCfgiCd,
  [CMDQ_OP.CFGI_CD_ALL]: CmdCfgiCdAll,
  [CMDQ_OP.TLBI_NH_ALL]: TlbiVmid,
  [CMDQ_OP.TLBI_NH_ASID]: TlbiAsid,
  [CMDQ_OP.TLBI_NH_VA]: TlbiVa,
  [CMDQ_OP.TLBI_NH_VAA]: TlbiVaa,
  [CMDQ_OP.TLBI_EL2_ALL]: OpOnly,
  [CMDQ_OP.TLBI_EL2_ASID]: defineDwords('CMD_TLBI_EL2_ASID', 2, { op: [0, 7, 0], asid: [0, 63, 48] }),
  [CMDQ_OP.TLBI_EL2_VA]: ElVa,
  [CMDQ_OP.TLBI_EL2_VAA]: ElVaa,
  [CMDQ_OP.TLBI_EL3_ALL]: OpOnly,
  [CMDQ_OP.TLBI_EL3_VA]: ElVaa,
  [CMDQ_OP.TLBI_S12_VMALL]: TlbiVmid,
  [CMDQ_OP.TLBI_S2_IPA]: TlbiIpa,
  [CMDQ_OP.TLBI_NSNH_ALL]: OpOnly,
  [CMDQ_OP.ATC_INV]: CmdAtcInv,
  [CMDQ_OP.PRI_RESP]: CmdPriResp,
  [CMDQ_OP.RESUME]: CmdResume,
  [CMDQ_OP.STALL_TERM]: CmdStallTerm,
  [CMDQ_OP.CMD_SYNC]: CmdSync,
};

/** Bits an opcode defines, per dword; any other set bit (RES0, or SSec on the Non-secure queue) is illegal. */
export const CMD_DEFINED_BITS: Readonly<Record<number, readonly bigint[]>> = Object.fromEntries(
  Object.entries(CMD_LAYOUT).map(([op, codec]) => [op, fieldMask(codec)]),
);

export interface DecodedCmd {
  readonly op: number;
  /** The opcode's name, or UNKNOWN_0xNN. */
  readonly name: string;
  readonly fields: Record<string, number | bigint>;
}

/** Decodes a command by its opcode's layout. */
export function decodeCmd(d0: bigint, d1: bigint): DecodedCmd {
  const op = Number(d0 & 0xffn);
  const layout = CMD_LAYOUT[op];
  const name = CMDQ_OP_NAMES[op] ?? `UNKNOWN_0x${op.toString(16).padStart(2, '0')}`;
  return { op, name, fields: layout ? layout.decode([d0, d1]) : { op } };
}

/** Encodes a command of `name` from its fields (op is filled in). */
export function encodeCmd(name: CmdName, fields: Record<string, number | bigint> = {}): [bigint, bigint] {
  const op = CMDQ_OP[name];
  const layout = CMD_LAYOUT[op];
  if (!layout) throw new RangeError(`${name} has no field layout`);
  for (const k of Object.keys(fields)) if (!(k in layout.fields)) throw new RangeError(`${name} has no field ${k}`);
  const [d0, d1] = layout.encode({ ...fields, op });
  return [d0!, d1!];
}
