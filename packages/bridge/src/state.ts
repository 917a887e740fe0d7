// The daemon's state: one simulated process per real process, and the request cycle around each call.
import { readFileSync } from 'node:fs';
import { type Capability, ErrnoError, type Host } from '@iommu-lab/platform';
import { Coherence } from './coherence.js';
import { TaskFailNth } from './fail-nth.js';
import { type Call, handlers } from './handlers.js';
import { procLife, processAlive } from './proc-maps.js';
import { decodeRequest, encodeReply, HELLO_NEW_IMAGE, OP, type Request } from './protocol.js';
import { MirrorRegistry } from './registry.js';
import { RemoteMm } from './remote-mm.js';
import { RemoteProcess } from './remote-process.js';

/** Capability bits of linux/capability.h the simulated kernel checks. */
const CAP_BITS: readonly [Capability, number][] = [
  ['CAP_IPC_LOCK', 14],
  ['CAP_SYS_RAWIO', 17],
  ['CAP_SYS_ADMIN', 21],
  ['CAP_SYS_RESOURCE', 24],
];
const U64_MAX = 0xffff_ffff_ffff_ffffn;

export interface BridgeStats {
  requests: number;
  byOp: Record<number, number>;
  /** Exceptions that were not ErrnoErrors (simulator bugs); answered with EIO. */
  internalErrors: string[];
  processes: number;
}

export interface BridgeStateOptions {
  /** Paths outside the VFS that exist for access() (e.g. /sys/bus/iommufd_mock). */
  extraPaths?: readonly string[];
  log?: (line: string) => void;
}

export class BridgeState {
  readonly registry: MirrorRegistry;
  readonly coherence: Coherence;
  /** Live simulated processes by real pid. */
  readonly procs = new Map<number, RemoteProcess>();
  readonly stats: BridgeStats = { requests: 0, byOp: {}, internalErrors: [], processes: 0 };
  private readonly tasks = new Map<number, TaskFailNth>();
  private readonly forks = new Map<number, { child: RemoteProcess; parent: number; pid: number }>();
  private nextToken = 1;
  private readonly extraPaths: Set<string>;

  constructor(
    readonly host: Host,
    private readonly opts: BridgeStateOptions = {},
  ) {
    this.registry = new MirrorRegistry(host);
    this.coherence = new Coherence(this.registry, host.mem);
    this.extraPaths = new Set(opts.extraPaths ?? []);
  }

  /** The simulated process of a real pid, created (root's account, every capability) on first use. */
  ensureProc(pid: number): RemoteProcess {
    let p = this.procs.get(pid);
    if (p) return p;
    const mm = new RemoteMm(this.registry);
    p = new RemoteProcess(this.host, this.host.user(realUid(pid)), { mm });
    this.bind(p, pid);
    this.host.adopt(p);
    return p;
  }

  isBridged(pid: number): boolean {
    return this.procs.has(pid);
  }

  failNth(tid: number): TaskFailNth {
    let t = this.tasks.get(tid);
    if (!t) this.tasks.set(tid, (t = new TaskFailNth()));
    return t;
  }

  pathExists(path: string): boolean {
    return this.host.vfs.exists(path) || this.extraPaths.has(path);
  }

  private bind(p: RemoteProcess, pid: number): void {
    const old = this.procs.get(pid);
    if (old && old !== p) this.exitProc(pid);
    p.remoteMm.attach(pid);
    p.startTime = procLife(pid)?.startTime ?? 0;
    this.procs.set(pid, p);
    this.stats.processes++;
  }

  /** Before the real fork: the child's simulated side is a copy of the parent's now. */
  forkPrepare(parent: RemoteProcess): number {
    const token = this.nextToken++;
    this.forks.set(token, { child: parent.forkRemote(), parent: parent.realPid, pid: 0 });
    return token;
  }

  /** The parent learnt the child's pid (or that fork failed: pid < 0); the child says hello with the token. */
  forkDone(token: number, pid: number): void {
    const f = this.forks.get(token);
    if (!f) return;
    if (pid < 0) {
      this.forks.delete(token);
      f.child.exit();
      return;
    }
    if (f.pid === 0) {
      f.pid = pid;
      this.bind(f.child, pid);
    }
    this.forks.delete(token);
  }

  /** HELLO: a new connection. A forked child claims its token; an exec'ed process finds its descriptors. */
  hello(pid: number, token: number, newImage: boolean): number[] {
    if (token) {
      const f = this.forks.get(token);
      if (f && f.pid === 0) {
        f.pid = pid;
        this.bind(f.child, pid);
      }
      return this.procs.get(pid)?.openFds ?? [];
    }
    const p = this.procs.get(pid);
    if (!p) return [];
    if (p.startTime !== (procLife(pid)?.startTime ?? -1)) {
      this.exitProc(pid);
      return [];
    }
    // The same process after execve: its descriptors stay, its address space is new.
    if (newImage) p.remoteMm.exec();
    return p.openFds;
  }

  /** The real process is gone: its simulated side exits (files released, mappings torn down). */
  exitProc(pid: number): void {
    const p = this.procs.get(pid);
    if (!p) return;
    this.procs.delete(pid);
    this.tasks.delete(pid);
    p.exit();
  }

  /** Simulated processes whose real process died exit before anything else happens (the kernel's exit_files precedes wait). */
  reapDead(except = -1): void {
    for (const [pid, p] of this.procs) {
      if (pid !== except && !processAlive(pid, p.startTime)) this.exitProc(pid);
    }
    for (const [token, f] of this.forks) {
      if (f.pid === 0 && !this.procs.has(f.parent) && f.parent !== except) {
        this.forks.delete(token);
        f.child.exit();
      }
    }
  }

  private mms(): RemoteMm[] {
    return [...this.procs.values()].map((p) => p.remoteMm);
  }

  /** Serves one request frame and returns the reply frame. */
  handle(frame: Buffer): Buffer {
    let req: Request;
    try {
      req = decodeRequest(frame);
    } catch {
      return encodeReply(-22, []);
    }
    this.stats.requests++;
    this.stats.byOp[req.op] = (this.stats.byOp[req.op] ?? 0) + 1;
    if (req.op === OP.HELLO) {
      const token = Number(req.body.u64());
      const flags = req.body.u32();
      const fds = this.hello(req.pid, token, (flags & HELLO_NEW_IMAGE) !== 0);
      const data = Buffer.alloc(4 + 4 * fds.length);
      data.writeUInt32LE(fds.length, 0);
      fds.forEach((fd, i) => data.writeInt32LE(fd, 4 + 4 * i));
      return encodeReply(0, [], data, this.procs.has(req.pid));
    }
    this.reapDead(req.pid);
    const call: Call = { state: this, req, proc: this.procs.get(req.pid), cloexec: new Map() };
    if (!call.proc && req.op === OP.OPEN) call.proc = this.ensureProc(req.pid);
    const before = call.proc ? this.prepare(call.proc, req) : [];
    const mms = this.mms();
    for (const mm of mms) mm.beginRequest();
    this.coherence.refresh(mms);
    let ret: number | bigint;
    let data: Uint8Array | undefined;
    try {
      const h = handlers[req.op];
      if (!h) throw new ErrnoError('ENOSYS', 'bridge', `op ${req.op}`);
      ({ ret, data } = h(call));
    } catch (e) {
      ret = this.errnoOf(e, req);
    }
    this.coherence.writeback(this.mms());
    const newFds: { fd: number; cloexec: boolean }[] = [];
    const p = call.proc;
    if (p) {
      for (const fd of p.openFds) {
        if (!before.includes(fd)) newFds.push({ fd, cloexec: call.cloexec.get(fd) ?? true });
      }
      p.endRequest();
    }
    return encodeReply(ret, newFds, data, this.procs.has(req.pid));
  }

  /** The caller's credentials and unmapped ranges as of this request; returns its descriptors. */
  private prepare(p: RemoteProcess, req: Request): number[] {
    // The shim keeps the process's capabilities as a root process of the simulated machine has them.
    for (const [name, bit] of CAP_BITS) {
      if ((req.capEff >> BigInt(bit)) & 1n) p.capabilities.add(name);
      else p.capabilities.delete(name);
    }
    p.rlimitMemlock = req.memlock >= U64_MAX ? Infinity : Number(req.memlock);
    for (const e of req.events) {
      // Bit 63 of the end: only the protection changed (mprotect); the pages are the same.
      if (e.end >= 2 ** 63) p.remoteMm.realChanged();
      else p.remoteMm.realUnmapped(e.start, e.end);
    }
    return p.openFds;
  }

  private errnoOf(e: unknown, req: Request): number {
    if (e instanceof ErrnoError) return e.errno;
    const msg = `op ${req.op} pid ${req.pid}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    this.stats.internalErrors.push(msg);
    this.opts.log?.(`iommu-lab bridge: internal error: ${msg}`);
    return -5;
  }

  /** Every simulated process exits (the daemon stops). */
  shutdown(): void {
    for (const pid of [...this.procs.keys()]) this.exitProc(pid);
    for (const f of this.forks.values()) f.child.exit();
    this.forks.clear();
  }
}

function realUid(pid: number): number {
  try {
    const m = /^Uid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
