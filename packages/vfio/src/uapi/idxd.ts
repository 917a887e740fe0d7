// include/uapi/linux/idxd.h (Linux 7.3.4): the DSA descriptor and completion record the DMA engine uses.

export const DSA_OPCODE_NOOP = 0x00;
export const DSA_OPCODE_DRAIN = 0x02;
export const DSA_OPCODE_MEMMOVE = 0x03;
export const DSA_OPCODE_MEMFILL = 0x04;

export const IDXD_OP_FLAG_FENCE = 0x0001;
export const IDXD_OP_FLAG_BOF = 0x0002;
export const IDXD_OP_FLAG_CRAV = 0x0004;
export const IDXD_OP_FLAG_RCR = 0x0008;

export const DSA_COMP_NONE = 0x00;
export const DSA_COMP_SUCCESS = 0x01;
export const DSA_COMP_PAGE_FAULT_NOBOF = 0x03;
/** A blocked-on fault whose page request was answered Invalid Request (or not at all). */
export const DSA_COMP_PAGE_FAULT_IR = 0x04;
export const DSA_COMP_BAD_OPCODE = 0x10;
export const DSA_COMP_INVALID_FLAGS = 0x11;
export const DSA_COMP_XFER_ERANGE = 0x13;
export const DSA_COMP_OVERLAP_BUFFERS = 0x16;
export const DSA_COMP_STATUS_MASK = 0x7f;
/** Status bit 7: the page fault happened on a write. */
export const DSA_COMP_STATUS_WRITE = 0x80;

export const DSA_DESC_SIZE = 64;
export const DSA_COMP_RECORD_SIZE = 32;

/** struct dsa_hw_desc, the members used by NOOP, DRAIN, MEMMOVE and MEMFILL. */
export interface DsaHwDesc {
  /** Bits 19:0 of the first dword. */
  pasid: number;
  /** Bit 31 of the first dword: a supervisor request. */
  priv: boolean;
  /** Bits 23:0 of the second dword (IDXD_OP_FLAG_*). */
  flags: number;
  /** Bits 31:24 of the second dword (DSA_OPCODE_*). */
  opcode: number;
  completion_addr: bigint;
  /** src_addr for MEMMOVE, pattern for MEMFILL. */
  src_addr: bigint;
  dst_addr: bigint;
  xfer_size: number;
}

/** struct dsa_completion_record, the common part. */
export interface DsaCompletionRecord {
  status: number;
  result: number;
  fault_info: number;
  bytes_completed: number;
  fault_addr: bigint;
}

export function encodeDsaHwDesc(d: DsaHwDesc): Uint8Array {
  const b = new Uint8Array(DSA_DESC_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, ((d.pasid & 0xfffff) | (d.priv ? 1 << 31 : 0)) >>> 0, true);
  v.setUint32(4, ((d.flags & 0xffffff) | ((d.opcode & 0xff) << 24)) >>> 0, true);
  v.setBigUint64(8, d.completion_addr, true);
  v.setBigUint64(16, d.src_addr, true);
  v.setBigUint64(24, d.dst_addr, true);
  v.setUint32(32, d.xfer_size >>> 0, true);
  return b;
}

export function decodeDsaHwDesc(b: Uint8Array): DsaHwDesc {
  if (b.length !== DSA_DESC_SIZE) throw new RangeError(`a DSA descriptor is ${DSA_DESC_SIZE} bytes, not ${b.length}`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dw0 = v.getUint32(0, true);
  const dw1 = v.getUint32(4, true);
  return {
    pasid: dw0 & 0xfffff,
    priv: (dw0 >>> 31) === 1,
    flags: dw1 & 0xffffff,
    opcode: dw1 >>> 24,
    completion_addr: v.getBigUint64(8, true),
    src_addr: v.getBigUint64(16, true),
    dst_addr: v.getBigUint64(24, true),
    xfer_size: v.getUint32(32, true),
  };
}

export function encodeDsaCompletionRecord(r: DsaCompletionRecord): Uint8Array {
  const b = new Uint8Array(DSA_COMP_RECORD_SIZE);
  const v = new DataView(b.buffer);
  v.setUint8(0, r.status);
  v.setUint8(1, r.result);
  v.setUint8(2, r.fault_info);
  v.setUint32(4, r.bytes_completed >>> 0, true);
  v.setBigUint64(8, r.fault_addr, true);
  return b;
}

export function decodeDsaCompletionRecord(b: Uint8Array): DsaCompletionRecord {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { status: v.getUint8(0), result: v.getUint8(1), fault_info: v.getUint8(2), bytes_completed: v.getUint32(4, true), fault_addr: v.getBigUint64(8, true) };
}
