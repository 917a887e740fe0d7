// A simulated user process: file descriptors, an address space, and the system calls a C program makes.
import { AddressSpace } from './address-space.js';
import { ErrnoError } from './errno.js';
import type { Host } from './host.js';
import type { IoctlArg } from './ioctl-arg.js';
import { Memfd, memfdOps } from './memfd.js';
import { MemObject } from './mem-object.js';
import { PAGE_SIZE } from './phys-mem.js';
import { O_RDWR, OpenFile, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM } from './vfs.js';

export interface MmapOptions {
  /** Map this file descriptor instead of anonymous memory. */
  fd?: number;
  /** Byte offset into the file (page aligned). */
  offset?: number | bigint;
  /** MAP_SHARED (default false: MAP_PRIVATE). */
  shared?: boolean;
  /** PROT_* as 'r', 'rw', 'w' or '' (default 'rw'). */
  prot?: string;
  /** MAP_FIXED at this address. */
  fixed?: bigint;
  /** MAP_FIXED_NOREPLACE semantics for `fixed`. */
  noReplace?: boolean;
  /** MAP_HUGETLB: 2 MiB pages, physically contiguous. */
  hugetlb?: boolean;
  /** MAP_POPULATE: fault every page in now. */
  populate?: boolean;
  /** Alignment of the chosen address (the kernel aligns hugetlb and THP-eligible mappings). */
  align?: number;
  name?: string;
}

/** Capabilities the simulated kernel checks (capable(CAP_...)). */
export type Capability = 'CAP_SYS_RESOURCE' | 'CAP_IPC_LOCK' | 'CAP_SYS_RAWIO' | 'CAP_SYS_ADMIN';

/** Per-user accounting shared by every process of a uid (struct user_struct). */
export class UserAccount {
  lockedVm = 0;
  constructor(readonly uid: number) {}
}

const DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

export class Process {
  readonly pid: number;
  readonly mm: AddressSpace;
  readonly capabilities: Set<Capability>;
  /** RLIMIT_MEMLOCK in bytes. */
  rlimitMemlock: number;
  /** mm->pinned_vm and mm->locked_vm in pages, as /proc/PID/status shows them. */
  pinnedVm = 0;
  lockedVm = 0;
  readonly parent: Process | undefined;
  readonly children: Process[] = [];
  private readonly fds = new Map<number, OpenFile>();
  private exitedFlag = false;

  constructor(
    readonly host: Host,
    readonly user: UserAccount,
    opts: { mm?: AddressSpace; capabilities?: Iterable<Capability>; rlimitMemlock?: number; parent?: Process } = {},
  ) {
    this.pid = host.allocPid();
    this.mm = opts.mm ?? new AddressSpace(host.frames, host.mem);
    this.capabilities = new Set(opts.capabilities ?? ['CAP_SYS_RESOURCE', 'CAP_IPC_LOCK', 'CAP_SYS_RAWIO', 'CAP_SYS_ADMIN']);
    this.rlimitMemlock = opts.rlimitMemlock ?? 8 * 1024 * 1024;
    this.parent = opts.parent;
  }

  get exited(): boolean {
    return this.exitedFlag;
  }

  capable(cap: Capability): boolean {
    return this.capabilities.has(cap);
  }

  /** /proc/PID/status memory lines that iommufd accounting changes (kB). */
  status(): { VmPin: number; VmLck: number } {
    return { VmPin: (this.pinnedVm * PAGE_SIZE) / 1024, VmLck: (this.lockedVm * PAGE_SIZE) / 1024 };
  }

  // --- file descriptors --------------------------------------------------------------------

  open(path: string, flags = O_RDWR): number {
    this.alive('open');
    return this.installFile(this.host.vfs.open(path, this, flags));
  }

  /** Installs an open file as the lowest free descriptor (fd_install); takes over the caller's reference. */
  installFile(file: OpenFile): number {
    this.alive('open');
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    this.fds.set(fd, file);
    return fd;
  }

  /** fget: the open file behind fd, or EBADF. */
  file(fd: number): OpenFile {
    const f = this.fds.get(fd);
    if (!f) throw new ErrnoError('EBADF', 'fget', `fd ${fd}`);
    return f;
  }

  /** The descriptors currently open, lowest first. */
  get openFds(): number[] {
    return [...this.fds.keys()].sort((a, b) => a - b);
  }

  close(fd: number): void {
    const f = this.fds.get(fd);
    if (!f) throw new ErrnoError('EBADF', 'close', `fd ${fd}`);
    this.fds.delete(fd);
    f.put();
  }

  dup(fd: number): number {
    const f = this.file(fd);
    f.get();
    return this.installFile(f);
  }

  ioctl(fd: number, request: number, arg?: IoctlArg): number {
    const f = this.fileFor(fd, 'ioctl');
    if (!f.ops.ioctl) throw new ErrnoError('ENOTTY', 'ioctl', `${f.ops.name} has no ioctls`);
    return f.ops.ioctl(f, request, arg, this);
  }

  read(fd: number, length: number): Uint8Array {
    const f = this.fileFor(fd, 'read');
    if (!f.ops.read) throw new ErrnoError('EINVAL', 'read', `${f.ops.name} is not readable`);
    return f.ops.read(f, length, this);
  }

  write(fd: number, bytes: Uint8Array): number {
    const f = this.fileFor(fd, 'write');
    if (!f.ops.write) throw new ErrnoError('EINVAL', 'write', `${f.ops.name} is not writable`);
    return f.ops.write(f, bytes, this);
  }

  /** poll(2) on one descriptor, without waiting: the events that are ready now. */
  poll(fd: number, events: number): number {
    const f = this.fileFor(fd, 'poll');
    const ready = f.ops.poll ? f.ops.poll(f, events, this) : DEFAULT_POLLMASK;
    return ready & (events | 0x18);
  }

  memfdCreate(name: string, opts: { hugetlb?: boolean } = {}): number {
    const obj = new MemObject(this.host.frames, this.host.mem, opts.hugetlb ? 'hugetlb' : 'memfd', 0);
    return this.installFile(new OpenFile(memfdOps, new Memfd(name, obj), `/memfd:${name}`));
  }

  ftruncate(fd: number, length: number | bigint): void {
    const f = this.fileFor(fd, 'ftruncate');
    if (!f.ops.truncate) throw new ErrnoError('EINVAL', 'ftruncate', `${f.ops.name} has no size`);
    f.ops.truncate(f, Number(length));
  }

  // --- memory ---------------------------------------------------------------------------------

  /** mmap(2); returns the address. Anonymous unless opts.fd is given. */
  mmap(length: number | bigint, opts: MmapOptions = {}): bigint {
    this.alive('mmap');
    const len = Number(length);
    if (!Number.isSafeInteger(len) || len <= 0) throw new ErrnoError('EINVAL', 'mmap', `length ${length}`);
    const bytes = Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
    const prot = opts.prot ?? 'rw';
    if (!/^r?w?x?$/.test(prot)) throw new ErrnoError('EINVAL', 'mmap', `prot "${prot}"`);
    const read = prot.includes('r');
    const write = prot.includes('w');
    const shared = opts.shared ?? false;
    const offset = Number(opts.offset ?? 0);
    const fixed = opts.fixed === undefined ? undefined : Number(opts.fixed);
    let obj: MemObject;
    let pgoff = 0;
    let file: OpenFile | undefined;
    let ops;
    if (opts.fd !== undefined) {
      file = this.fileFor(opts.fd, 'mmap');
      if (!file.ops.mmap) throw new ErrnoError('ENODEV', 'mmap', `${file.ops.name} cannot be mapped`);
      if (offset % PAGE_SIZE !== 0 || offset < 0) throw new ErrnoError('EINVAL', 'mmap', `offset ${offset}`);
      const t = file.ops.mmap(file, { length: bytes, offset, read, write, shared }, this);
      ops = t.ops;
      if (shared || t.obj.kind === 'pfnmap') {
        obj = t.obj;
        pgoff = t.pgoff;
      } else {
        obj = new MemObject(this.host.frames, this.host.mem, 'anon', bytes / PAGE_SIZE, { obj: t.obj, pgoff: t.pgoff });
      }
      file.get();
    } else {
      if (offset !== 0) throw new ErrnoError('EINVAL', 'mmap', 'anonymous mapping with an offset');
      const kind = opts.hugetlb ? 'hugetlb' : shared ? 'shmem' : 'anon';
      obj = new MemObject(this.host.frames, this.host.mem, kind, bytes / PAGE_SIZE);
    }
    const align = opts.align ?? (opts.hugetlb ? 2 * 1024 * 1024 : PAGE_SIZE);
    let va: number;
    try {
      va = this.mm.map(bytes, { fixed, noReplace: opts.noReplace, align, read, write, shared, obj, pgoff, file, ops, name: opts.name });
    } catch (e) {
      obj.put();
      file?.put();
      throw e;
    }
    if (opts.populate) for (let a = va; a < va + bytes; a += PAGE_SIZE) this.mm.fault(a, false);
    return BigInt(va);
  }

  munmap(va: bigint, length: number | bigint): void {
    this.alive('munmap');
    this.mm.unmap(this.vaNumber(va, 'munmap'), Number(length));
  }

  /** Reads the process's own memory (what a load would see); EFAULT when unmapped. */
  memRead(va: bigint, length: number): Uint8Array {
    if (length === 0) return new Uint8Array(0);
    return this.mm.read(this.vaNumber(va, 'read'), length);
  }

  /** Writes the process's own memory; EFAULT when unmapped or read-only. */
  memWrite(va: bigint, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.mm.write(this.vaNumber(va, 'write'), bytes);
  }

  // --- process lifetime -----------------------------------------------------------------------

  /** fork(2): the child shares open files and MAP_SHARED memory, and gets copies of private memory. */
  fork(): Process {
    this.alive('fork');
    const child = new Process(this.host, this.user, {
      mm: this.mm.fork(),
      capabilities: this.capabilities,
      rlimitMemlock: this.rlimitMemlock,
      parent: this,
    });
    for (const [fd, f] of this.fds) {
      f.get();
      child.fds.set(fd, f);
    }
    this.children.push(child);
    this.host.adopt(child);
    return child;
  }

  /** exit(2): closes every descriptor, then tears the address space down. Idempotent. */
  exit(): void {
    if (this.exitedFlag) return;
    this.exitedFlag = true;
    for (const fd of [...this.fds.keys()].sort((a, b) => a - b)) this.close(fd);
    this.mm.teardown();
    this.host.reap(this);
  }

  private fileFor(fd: number, syscall: string): OpenFile {
    this.alive(syscall);
    const f = this.fds.get(fd);
    if (!f) throw new ErrnoError('EBADF', syscall, `fd ${fd}`);
    return f;
  }

  private alive(syscall: string): void {
    if (this.exitedFlag) throw new ErrnoError('ESRCH', syscall, `process ${this.pid} has exited`);
  }

  private vaNumber(va: bigint, syscall: string): number {
    if (typeof va !== 'bigint' || va < 0n || va >= 1n << 64n) throw new ErrnoError('EFAULT', syscall, `bad address ${String(va)}`);
    if (va >= 1n << 47n) throw new ErrnoError('EFAULT', syscall, `0x${va.toString(16)} is not a user address`);
    return Number(va);
  }
}
