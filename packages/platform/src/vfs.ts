// Files: open file descriptions with their operations, and device nodes registered by path.
import { ErrnoError } from './errno.js';
import type { IoctlArg } from './ioctl-arg.js';
import type { MemObject } from './mem-object.js';
import type { Process } from './process.js';
import type { VmaOps } from './address-space.js';

export const POLLIN = 0x001;
export const POLLPRI = 0x002;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLRDNORM = 0x040;
export const POLLWRNORM = 0x100;

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CLOEXEC = 0o2000000;

/** What a file's mmap hands to the address space: the pages and the VMA callbacks. */
export interface MmapTarget {
  obj: MemObject;
  pgoff: number;
  ops?: VmaOps;
}

export interface MmapRequest {
  length: number;
  /** Byte offset into the file, as given to mmap(). */
  offset: number;
  read: boolean;
  write: boolean;
  shared: boolean;
}

/** struct file_operations: every member optional; a missing one gives the kernel's default errno. */
export interface FileOps {
  readonly name: string;
  ioctl?(file: OpenFile, request: number, arg: IoctlArg, proc: Process): number;
  read?(file: OpenFile, length: number, proc: Process): Uint8Array;
  write?(file: OpenFile, bytes: Uint8Array, proc: Process): number;
  poll?(file: OpenFile, events: number, proc: Process): number;
  mmap?(file: OpenFile, req: MmapRequest, proc: Process): MmapTarget;
  /** ftruncate(2), for files with a size (memfd). */
  truncate?(file: OpenFile, length: number): void;
  /** Called once, when the last reference to the open file goes. */
  release?(file: OpenFile): void;
}

/** struct file: shared by dup'ed and inherited descriptors and by mappings of it. */
export class OpenFile<T = unknown> {
  private refs = 1;
  private released = false;

  constructor(
    readonly ops: FileOps,
    readonly priv: T,
    readonly path: string,
    readonly flags = O_RDWR,
  ) {}

  get references(): number {
    return this.refs;
  }

  get isReleased(): boolean {
    return this.released;
  }

  get(): void {
    if (this.released) throw new Error(`${this.path}: get() on a released file`);
    this.refs++;
  }

  /** Drops a reference; the last one calls ops.release synchronously. */
  put(): void {
    if (this.released) throw new Error(`${this.path}: put() on a released file`);
    if (--this.refs > 0) return;
    this.released = true;
    this.ops.release?.(this);
  }
}

/** Opens a device node for a process; throws an ErrnoError to refuse. */
export type NodeOpener = (proc: Process, flags: number) => OpenFile;

export class Vfs {
  private readonly nodes = new Map<string, NodeOpener>();

  /** Registers a device node such as /dev/iommu; a path can be registered once. */
  register(path: string, open: NodeOpener): void {
    if (this.nodes.has(path)) throw new Error(`${path} is already registered`);
    this.nodes.set(path, open);
  }

  unregister(path: string): void {
    this.nodes.delete(path);
  }

  exists(path: string): boolean {
    return this.nodes.has(path) || [...this.nodes.keys()].some((p) => p.startsWith(path.endsWith('/') ? path : path + '/'));
  }

  /** Registered paths, sorted. */
  list(prefix = '/'): string[] {
    return [...this.nodes.keys()].filter((p) => p.startsWith(prefix)).sort();
  }

  open(path: string, proc: Process, flags: number): OpenFile {
    const opener = this.nodes.get(path);
    if (!opener) throw new ErrnoError('ENOENT', 'open', path);
    return opener(proc, flags);
  }
}
