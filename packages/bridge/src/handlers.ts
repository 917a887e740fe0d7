// One handler per request: the simulated system call a real process made through the shim.
import { statSync } from 'node:fs';
import { ErrnoError, O_CLOEXEC, type OpenFile } from '@iommu-lab/platform';
import { FailNthFile, failNthOps, failNthTarget, openFailNth } from './fail-nth.js';
import { readMaps } from './proc-maps.js';
import { OP, type Request } from './protocol.js';
import { devString } from './real-io.js';
import type { RemoteProcess } from './remote-process.js';
import type { BridgeState } from './state.js';

/** What a handler returns: the result and optional reply data. */
export interface Outcome {
  ret: number | bigint;
  data?: Uint8Array;
}

/** The request being served: the caller's process (if it has one) and how to mark new descriptors. */
export interface Call {
  readonly state: BridgeState;
  readonly req: Request;
  proc: RemoteProcess | undefined;
  /** O_CLOEXEC of descriptors this call opened (kernel-installed ones default to close-on-exec). */
  readonly cloexec: Map<number, boolean>;
}

const PROT_READ = 1;
const PROT_WRITE = 2;
const PROT_EXEC = 4;
const MAP_SHARED = 0x01;
const MAP_SHARED_VALIDATE = 0x03;
const POLLNVAL = 0x20;

function needProc(c: Call, syscall: string): RemoteProcess {
  if (!c.proc) throw new ErrnoError('EBADF', syscall, 'the process has no simulated descriptors');
  return c.proc;
}

/** Runs a system call of the caller inside the simulated kernel, with the caller's fail-nth armed. */
function kernel<T>(c: Call, fn: () => T): T {
  const faults = c.state.host.faults;
  const task = c.state.failNth(c.req.tid);
  task.enter(faults);
  try {
    return fn();
  } finally {
    task.leave(faults);
  }
}

function failNthFile(f: OpenFile): FailNthFile | null {
  return f.ops === failNthOps ? (f.priv as FailNthFile) : null;
}

function open(c: Call): Outcome {
  const flags = c.req.body.i32();
  c.req.body.u32();
  const path = c.req.body.cstring();
  const target = failNthTarget(path);
  const proc = c.proc ?? (c.proc = c.state.ensureProc(c.req.pid));
  let fd: number;
  if (target !== null) {
    if (!c.state.isBridged(target)) throw new ErrnoError('ENOENT', 'open', path);
    fd = proc.installFile(openFailNth(c.state.failNth(target), path));
  } else {
    fd = kernel(c, () => proc.open(path, flags));
  }
  c.cloexec.set(fd, (flags & O_CLOEXEC) !== 0);
  return { ret: fd };
}

function close(c: Call): Outcome {
  const fd = c.req.body.i32();
  const proc = needProc(c, 'close');
  if (!proc.isSimulated(fd)) throw new ErrnoError('EBADF', 'close', `fd ${fd}`);
  kernel(c, () => proc.close(fd));
  return { ret: 0 };
}

/** dup/dup2/dup3/F_DUPFD after the real one: newfd now refers to oldfd's file. */
function dup(c: Call): Outcome {
  const oldfd = c.req.body.i32();
  const newfd = c.req.body.i32();
  const proc = needProc(c, 'dup');
  if (oldfd === newfd) return { ret: newfd };
  if (proc.isSimulated(newfd)) proc.close(newfd);
  if (proc.isSimulated(oldfd)) {
    const f = proc.file(oldfd);
    f.get();
    proc.installFileAt(newfd, f);
  }
  return { ret: newfd };
}

function ioctl(c: Call): Outcome {
  const fd = c.req.body.i32();
  c.req.body.u32();
  const request = Number(c.req.body.u64());
  const arg = c.req.body.u64();
  const proc = needProc(c, 'ioctl');
  return { ret: kernel(c, () => proc.ioctl(fd, request, arg)) };
}

function read(c: Call, positional: boolean): Outcome {
  const fd = c.req.body.i32();
  c.req.body.u32();
  const buf = c.req.body.u64();
  const len = Number(c.req.body.u64());
  const off = positional ? Number(c.req.body.i64()) : 0;
  const proc = needProc(c, 'read');
  const f = proc.file(fd);
  const fn = failNthFile(f);
  let data: Uint8Array;
  if (fn && positional) data = fn.read(len, off);
  else if (positional && off !== 0 && !fn) throw new ErrnoError('ESPIPE', 'pread', 'the file has no position');
  else data = kernel(c, () => proc.read(fd, len));
  if (data.length) proc.memWrite(buf, data);
  return { ret: data.length };
}

function write(c: Call, positional: boolean): Outcome {
  const fd = c.req.body.i32();
  c.req.body.u32();
  const buf = c.req.body.u64();
  const len = Number(c.req.body.u64());
  const off = positional ? Number(c.req.body.i64()) : 0;
  const proc = needProc(c, 'write');
  const f = proc.file(fd);
  if (positional && off !== 0 && !failNthFile(f)) throw new ErrnoError('ESPIPE', 'pwrite', 'the file has no position');
  const bytes = len ? proc.memRead(buf, len) : new Uint8Array(0);
  if (failNthFile(f)) return { ret: proc.write(fd, bytes) };
  return { ret: kernel(c, () => proc.write(fd, bytes)) };
}

function poll(c: Call): Outcome {
  const n = c.req.body.u32();
  c.req.body.u32();
  const out = Buffer.alloc(n * 2);
  let ready = 0;
  for (let i = 0; i < n; i++) {
    const fd = c.req.body.i32();
    const events = c.req.body.i16() & 0xffff;
    c.req.body.i16();
    let rev: number;
    try {
      rev = needProc(c, 'poll').poll(fd, events);
    } catch {
      rev = POLLNVAL;
    }
    out.writeUInt16LE(rev, 2 * i);
    if (rev) ready++;
  }
  return { ret: ready, data: out };
}

function mmap(c: Call): Outcome {
  const addr = c.req.body.u64();
  const len = c.req.body.u64();
  const prot = c.req.body.i32();
  const flags = c.req.body.i32();
  const fd = c.req.body.i32();
  c.req.body.i32();
  const off = c.req.body.i64();
  const proc = needProc(c, 'mmap');
  const type = flags & 0x0f;
  const p = `${prot & PROT_READ ? 'r' : ''}${prot & PROT_WRITE ? 'w' : ''}${prot & PROT_EXEC ? 'x' : ''}`;
  return {
    ret: kernel(c, () => proc.mmap(len, { fd, offset: off, shared: type === MAP_SHARED || type === MAP_SHARED_VALIDATE, prot: p, fixed: addr })),
  };
}

function munmap(c: Call): Outcome {
  const addr = c.req.body.u64();
  const len = c.req.body.u64();
  const proc = needProc(c, 'munmap');
  kernel(c, () => proc.munmap(addr, len));
  return { ret: 0 };
}

function status(c: Call): Outcome {
  const pid = c.req.body.i32();
  const p = c.state.procs.get(pid);
  if (!p) throw new ErrnoError('ESRCH', 'status', `pid ${pid} is not bridged`);
  const s = p.status();
  const data = Buffer.alloc(16);
  data.writeBigInt64LE(BigInt(s.VmPin), 0);
  data.writeBigInt64LE(BigInt(s.VmLck), 8);
  return { ret: 0, data };
}

/** The shim serves a MAP_HUGETLB mapping or an MFD_HUGETLB memfd from ordinary pages; the simulator treats them as huge. */
function hugetlb(c: Call): Outcome {
  const addr = Number(c.req.body.u64());
  const len = Number(c.req.body.u64());
  const fd = c.req.body.i32();
  const pid = c.req.pid;
  if (fd >= 0) {
    const st = statSync(`/proc/${pid}/fd/${fd}`);
    c.state.registry.markHuge(`${devString(st.dev)}:${st.ino}`);
    return { ret: 0 };
  }
  const v = readMaps(pid).find((m) => m.start <= addr && addr < m.end);
  if (!v) throw new ErrnoError('EINVAL', 'hugetlb', `0x${addr.toString(16)} is not mapped`);
  if (v.shared && v.inode !== 0) {
    const key = `${v.dev}:${v.inode}`;
    c.state.registry.markHuge(key);
    c.proc?.remoteMm.remirror(key);
  } else (c.proc ?? (c.proc = c.state.ensureProc(pid))).remoteMm.addHugeRange(addr, addr + len);
  return { ret: 0 };
}

function access(c: Call): Outcome {
  const path = c.req.body.cstring();
  return { ret: c.state.pathExists(path) ? 0 : new ErrnoError('ENOENT', 'access', path).errno };
}

function forkPrepare(c: Call): Outcome {
  return { ret: c.state.forkPrepare(needProc(c, 'fork')) };
}

function forkDone(c: Call): Outcome {
  const token = Number(c.req.body.u64());
  const child = c.req.body.i32();
  c.state.forkDone(token, child);
  return { ret: 0 };
}

export const handlers: Record<number, (c: Call) => Outcome> = {
  [OP.OPEN]: open,
  [OP.CLOSE]: close,
  [OP.DUP]: dup,
  [OP.IOCTL]: ioctl,
  [OP.READ]: (c) => read(c, false),
  [OP.WRITE]: (c) => write(c, false),
  [OP.PREAD]: (c) => read(c, true),
  [OP.PWRITE]: (c) => write(c, true),
  [OP.POLL]: poll,
  [OP.MMAP]: mmap,
  [OP.MUNMAP]: munmap,
  [OP.FORK_PREPARE]: forkPrepare,
  [OP.FORK_DONE]: forkDone,
  [OP.STATUS]: status,
  [OP.HUGETLB]: hugetlb,
  [OP.ACCESS]: access,
};
