// The wire format between the shim and the daemon (shim/protocol.h); little-endian, one frame per request.
import { ErrnoError, O_CLOEXEC } from '@iommu-lab/platform';

export const OP = {
  HELLO: 1,
  OPEN: 2,
  CLOSE: 3,
  DUP: 4,
  IOCTL: 5,
  READ: 6,
  WRITE: 7,
  PREAD: 8,
  PWRITE: 9,
  POLL: 10,
  MMAP: 11,
  MUNMAP: 12,
  FORK_PREPARE: 13,
  FORK_DONE: 14,
  STATUS: 15,
  HUGETLB: 16,
  ACCESS: 17,
} as const;

export type OpName = keyof typeof OP;

/** HELLO flags: the process just loaded a new program image (execve). */
export const HELLO_NEW_IMAGE = 1;

/** sizeof(struct bridge_req_hdr): len, op, nevents, pid, tid, cap_eff, memlock. */
export const REQ_HDR_SIZE = 32;
/** sizeof(struct bridge_vm_event) */
export const VM_EVENT_SIZE = 16;
/** sizeof(struct bridge_rep_hdr) */
export const REP_HDR_SIZE = 16;
export const NEW_FD_SIZE = 8;

/** A decoded request: the header, the vm events and a cursor over the payload. */
export interface Request {
  op: number;
  pid: number;
  tid: number;
  capEff: bigint;
  memlock: bigint;
  events: { start: number; end: number }[];
  body: PayloadReader;
}

/** Reads the payload; reading past its end is a malformed request (EINVAL). */
export class PayloadReader {
  private pos: number;
  constructor(
    private readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new ErrnoError('EINVAL', 'bridge', 'request payload too short');
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  i16(): number {
    this.need(2);
    const v = this.buf.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A NUL-terminated string. */
  cstring(): string {
    let end = this.buf.indexOf(0, this.pos);
    if (end < 0) end = this.buf.length;
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
}

/** Decodes one complete frame (buf holds exactly `len` bytes). */
export function decodeRequest(buf: Buffer): Request {
  if (buf.length < REQ_HDR_SIZE || buf.readUInt32LE(0) !== buf.length) throw new ErrnoError('EINVAL', 'bridge', 'bad frame length');
  const nevents = buf.readUInt16LE(6);
  const events: { start: number; end: number }[] = [];
  if (REQ_HDR_SIZE + nevents * VM_EVENT_SIZE > buf.length) throw new ErrnoError('EINVAL', 'bridge', 'vm events past the frame');
  for (let i = 0; i < nevents; i++) {
    const at = REQ_HDR_SIZE + i * VM_EVENT_SIZE;
    events.push({ start: Number(buf.readBigUInt64LE(at)), end: Number(buf.readBigUInt64LE(at + 8)) });
  }
  return {
    op: buf.readUInt16LE(4),
    pid: buf.readInt32LE(8),
    tid: buf.readInt32LE(12),
    capEff: buf.readBigUInt64LE(16),
    memlock: buf.readBigUInt64LE(24),
    events,
    body: new PayloadReader(buf, REQ_HDR_SIZE + nevents * VM_EVENT_SIZE),
  };
}

/** A reply frame: the result, the descriptors to create, and op data. */
export function encodeReply(ret: number | bigint, newFds: readonly { fd: number; cloexec: boolean }[], data?: Uint8Array, bridged = false): Buffer {
  const dataLen = data?.length ?? 0;
  const len = REP_HDR_SIZE + newFds.length * NEW_FD_SIZE + dataLen;
  const out = Buffer.alloc(len);
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(newFds.length, 4);
  // pad bit 0: the caller has a simulated process (its fork needs the handshake).
  out.writeUInt16LE(bridged ? 1 : 0, 6);
  out.writeBigInt64LE(BigInt(ret), 8);
  let at = REP_HDR_SIZE;
  for (const f of newFds) {
    out.writeInt32LE(f.fd, at);
    out.writeInt32LE(f.cloexec ? O_CLOEXEC : 0, at + 4);
    at += NEW_FD_SIZE;
  }
  if (data) out.set(data, at);
  return out;
}

/** Builds a request frame (the shim's side, for tests). */
export function encodeRequest(op: number, pid: number, payload: Uint8Array, opts: { capEff?: bigint; memlock?: bigint; events?: { start: number; end: number }[] } = {}): Buffer {
  const events = opts.events ?? [];
  const len = REQ_HDR_SIZE + events.length * VM_EVENT_SIZE + payload.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(op, 4);
  b.writeUInt16LE(events.length, 6);
  b.writeInt32LE(pid, 8);
  b.writeInt32LE(pid, 12);
  b.writeBigUInt64LE(opts.capEff ?? 0n, 16);
  b.writeBigUInt64LE(opts.memlock ?? 0xffff_ffff_ffff_ffffn, 24);
  events.forEach((e, i) => {
    b.writeBigUInt64LE(BigInt(e.start), REQ_HDR_SIZE + i * VM_EVENT_SIZE);
    b.writeBigUInt64LE(BigInt(e.end), REQ_HDR_SIZE + i * VM_EVENT_SIZE + 8);
  });
  b.set(payload, REQ_HDR_SIZE + events.length * VM_EVENT_SIZE);
  return b;
}
