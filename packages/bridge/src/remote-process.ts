// A simulated process standing for a real one: its fds, the real descriptors it refers to, fork.
import { readlinkSync, statSync } from 'node:fs';
import { ErrnoError, Memfd, memfdOps, OpenFile, PAGE_SIZE, Process } from '@iommu-lab/platform';
import { installAt, realFdOpen, realFdOps } from './fd-table.js';
import type { MirrorObject } from './mirror-object.js';
import { devString } from './real-io.js';
import type { RemoteMm } from './remote-mm.js';

const memfds = new WeakMap<MirrorObject, Memfd>();

/** The simulated side of a real process; descriptors the simulator does not own resolve to the real files. */
export class RemoteProcess extends Process {
  /** Files made for real descriptors during the current request, released at its end. */
  private transient: OpenFile[] = [];
  /** /proc/PID/stat start time of the real process (tells a reused pid apart). */
  startTime = 0;

  get remoteMm(): RemoteMm {
    return this.mm as RemoteMm;
  }

  get realPid(): number {
    return this.remoteMm.pid;
  }

  /** True when fd is a descriptor the simulator owns. */
  isSimulated(fd: number): boolean {
    return this.openFds.includes(fd);
  }

  /**
   * fd_install: the lowest number free both here and in the real process (3 and up, as the
   * simulated table numbers), so that the shim can give the real descriptor the same number.
   */
  override installFile(file: OpenFile): number {
    const open = new Set(this.openFds);
    let fd = 3;
    while (open.has(fd) || (this.realPid > 0 && realFdOpen(this.realPid, fd))) fd++;
    this.installFileAt(fd, file);
    return fd;
  }

  /** Installs the caller's reference to `file` as descriptor fd (free in the simulated table). */
  installFileAt(fd: number, file: OpenFile): void {
    installAt(fd, file, (f) => super.installFile(f), (n) => this.close(n));
  }

  /** fget: a simulated file, or the real file behind a real descriptor (a memfd becomes a simulated memfd). */
  override file(fd: number): OpenFile {
    try {
      return super.file(fd);
    } catch (e) {
      if (!(e instanceof ErrnoError) || e.code !== 'EBADF') throw e;
    }
    return this.realFile(fd);
  }

  private realFile(fd: number): OpenFile {
    const path = `/proc/${this.realPid}/fd/${fd}`;
    let link: string;
    let st;
    try {
      link = readlinkSync(path);
      st = statSync(path);
    } catch {
      throw new ErrnoError('EBADF', 'fget', `fd ${fd}`);
    }
    let file: OpenFile;
    if (link.startsWith('/memfd:')) {
      const registry = this.remoteMm.registry;
      const obj = registry.sharedObject(`${devString(st.dev)}:${st.ino}`, link, Math.ceil(st.size / PAGE_SIZE));
      obj.resize(Math.ceil(st.size / PAGE_SIZE));
      registry.attachFile(obj, path);
      let m = memfds.get(obj);
      if (!m) memfds.set(obj, (m = new Memfd(link.slice(7).replace(/ \(deleted\)$/, ''), obj)));
      m.size = st.size;
      // memfdOps.release drops the object reference sharedObject() took.
      file = new OpenFile(memfdOps, m, link);
    } else {
      file = new OpenFile(realFdOps, null, link);
    }
    this.transient.push(file);
    return file;
  }

  /** The end of a request: files made for real descriptors go. */
  endRequest(): void {
    for (const f of this.transient) f.put();
    this.transient = [];
  }

  /** The simulated side of a real fork: same descriptors, same device mappings, no pins. */
  forkRemote(): RemoteProcess {
    const child = new RemoteProcess(this.host, this.user, {
      mm: this.remoteMm.fork(),
      capabilities: this.capabilities,
      rlimitMemlock: this.rlimitMemlock,
      parent: this,
    });
    for (const fd of this.openFds) {
      const f = super.file(fd);
      f.get();
      child.installFileAt(fd, f);
    }
    this.children.push(child);
    this.host.adopt(child);
    return child;
  }
}
