// The mirrored objects of every client: shared ones by inode (one identity across processes), private ones per mm.
import { type Host, type MemObjectKind, PAGE_SIZE } from '@iommu-lab/platform';
import { MirrorObject, type PageView } from './mirror-object.js';
import { fstatSync } from 'node:fs';
import { fileSize, preadFull, pwriteFull, tryClose, tryOpen } from './real-io.js';

/**
 * The real file behind a shared object (a memfd reopened through /proc/PID/fd/N, or shared memory
 * through /proc/PID/map_files): its page cache is the pages' truth whoever writes them, and reading
 * a hole does not allocate it (a read through /proc/PID/mem would).
 */
export class FileView implements PageView {
  constructor(readonly fd: number) {}
  covers(): boolean {
    return true;
  }
  runEnd(): number {
    return Infinity;
  }
  /** Reads from page `index`; bytes past the end of the file, and a file with no blocks (all holes), read as zero. */
  readPage(index: number, dst: Uint8Array): boolean {
    let st;
    try {
      st = fstatSync(this.fd);
    } catch {
      return false;
    }
    const pos = index * PAGE_SIZE;
    dst.fill(0);
    if (pos >= st.size || st.blocks === 0) return true;
    return preadFull(this.fd, dst.subarray(0, Math.min(dst.length, st.size - pos)), pos);
  }
  writePage(index: number, src: Uint8Array): boolean {
    const size = fileSize(this.fd);
    const pos = index * PAGE_SIZE;
    if (size < 0 || pos >= size) return false;
    return pwriteFull(this.fd, src.subarray(0, Math.min(PAGE_SIZE, size - pos)), pos);
  }
  close(): void {
    tryClose(this.fd);
  }
}

/** The kind of simulated memory a shared real mapping is, from its /proc/PID/maps path. */
export function sharedKind(path: string, huge: boolean): MemObjectKind {
  if (huge) return 'hugetlb';
  if (path.startsWith('/memfd:')) return 'memfd';
  if (path.startsWith('/dev/zero') || path.startsWith('/SYSV') || path.startsWith('/anon_hugepage')) return 'shmem';
  return 'file';
}

export class MirrorRegistry {
  /** Every live mirrored object, shared or private. */
  readonly objects = new Set<MirrorObject>();
  private readonly shared = new Map<string, MirrorObject>();
  private readonly huge = new Set<string>();

  constructor(readonly host: Host) {}

  /** The shared object of an inode ("dev:ino"), with a new reference; grown to at least npages. */
  sharedObject(key: string, path: string, npages: number): MirrorObject {
    let o = this.shared.get(key);
    if (o && !o.released) {
      o.get();
    } else {
      o = this.create(sharedKind(path, this.huge.has(key)), npages, key);
      this.shared.set(key, o);
    }
    if (o.npages < npages) o.resize(npages);
    return o;
  }

  /** A process-private object (its private pages, indexed by virtual page number). */
  privateObject(kind: MemObjectKind, npages: number, key: string): MirrorObject {
    return this.create(kind, npages, key);
  }

  /** Marks an inode as hugetlb memory (the shim serves MAP_HUGETLB and MFD_HUGETLB from ordinary pages). */
  markHuge(key: string): void {
    this.huge.add(key);
  }

  isHuge(key: string): boolean {
    return this.huge.has(key);
  }

  /** Gives a shared object a real file to read pages no mapping covers (a memfd's own fd). */
  attachFile(o: MirrorObject, path: string): void {
    if (o.file) return;
    const fd = tryOpen(path, 'r+');
    if (fd >= 0) o.file = new FileView(fd);
  }

  private create(kind: MemObjectKind, npages: number, key: string): MirrorObject {
    const o = new MirrorObject(this.host.frames, this.host.mem, kind, npages, key, (x) => this.release(x));
    this.objects.add(o);
    return o;
  }

  private release(o: MirrorObject): void {
    this.objects.delete(o);
    if (this.shared.get(o.key) === o) this.shared.delete(o.key);
    if (o.file instanceof FileView) o.file.close();
    o.file = null;
  }
}
