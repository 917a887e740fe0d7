// A simulated process standing for a real one: its fds, the real descriptors it refers to, fork.
import { readlinkSync, statSync } from 'node:fs';
import { ErrnoError, Memfd, memfdOps, OpenFile, PAGE_SIZE, Process } from '@iommu-lab/platform';
import { installAt, realFdOps } from './fd-table.js';
import type { MirrorObject } from './mirror-object.js';
import { devString } from './real-io.js';
import type { RemoteMm } from './remote-mm.js';

const memfds = new WeakMap<MirrorObject, Memfd>();

/** The simulated side of a real process; descriptors the simulator does not own resolve to the real files. */
export class RemoteProcess extends Process {
  /** Numbers reserved for real descriptors during the current request. */
  readonly placeholders = new Set<number>();
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

  /** True when fd is a descriptor the simulator owns (not a reservation for a real one). */
  isSimulated(fd: number): boolean {
    return !this.placeholders.has(fd) && this.openFds.includes(fd);
  }

  /** fget: a simulated file, or the real file behind a real descriptor (a memfd becomes a simulated memfd). */
  override file(fd: number): OpenFile {
    if (!this.placeholders.has(fd)) {
      try {
        return super.file(fd);
      } catch (e) {
        if (!(e instanceof ErrnoError) || e.code !== 'EBADF') throw e;
      }
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

  /** Installs a new reference to `file` as descriptor fd (dup2 onto a free number). */
  installAtFd(fd: number, file: OpenFile): void {
    file.get();
    installAt(this, fd, file);
  }

  /** The end of a request: reservations and files made for real descriptors go. */
  endRequest(): void {
    for (const fd of this.placeholders) this.close(fd);
    this.placeholders.clear();
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
      if (this.placeholders.has(fd)) continue;
      const f = super.file(fd);
      f.get();
      installAt(child, fd, f);
    }
    this.children.push(child);
    this.host.adopt(child);
    return child;
  }
}
