// The address space of a real process as the simulated kernel sees it: a mirror of /proc/PID/maps.
import { AddressSpace, ErrnoError, type MapRequest, type MemObject, PAGE_SIZE, USER_VA_END, type Vma, type VmaFileRef, type VmaOps, vmaOf } from '@iommu-lab/platform';
import type { MirrorObject, PageView } from './mirror-object.js';
import { type RealVma, readMaps } from './proc-maps.js';
import { preadFull, pwriteFull, tryClose, tryOpen } from './real-io.js';
import type { MirrorRegistry } from './registry.js';

const SPECIAL = new Set(['[vvar]', '[vvar_vclock]', '[vsyscall]']);
/** Reads up to this size go through the per-request page cache. */
const SMALL_READ = 512;

/** A real mapping mirrored over a MirrorObject; it is also how the object reaches the real pages. */
export class MirrorVma implements Vma, PageView {
  readonly file: VmaFileRef | undefined = undefined;
  readonly ops: VmaOps | undefined = undefined;
  constructor(
    readonly mm: RemoteMm,
    readonly real: RealVma,
    readonly obj: MirrorObject,
    public pgoff: number,
  ) {}
  get start(): number {
    return this.real.start;
  }
  get end(): number {
    return this.real.end;
  }
  get read(): boolean {
    return this.real.read;
  }
  get write(): boolean {
    return this.real.write;
  }
  get shared(): boolean {
    return this.real.shared;
  }
  get name(): string {
    return this.real.path;
  }
  covers(index: number): boolean {
    return index >= this.pgoff && index < this.pgoff + (this.real.end - this.real.start) / PAGE_SIZE;
  }
  vaOf(index: number): number {
    return this.real.start + (index - this.pgoff) * PAGE_SIZE;
  }
  readPage(index: number, dst: Uint8Array): boolean {
    return this.mm.readReal(this.vaOf(index), dst);
  }
  runEnd(): number {
    return this.pgoff + (this.real.end - this.real.start) / PAGE_SIZE;
  }
  writePage(index: number, src: Uint8Array): boolean {
    return this.mm.writeReal(this.vaOf(index), src);
  }
}

function sameReal(a: RealVma, b: RealVma): boolean {
  return a.start === b.start && a.end === b.end && a.offset === b.offset && a.dev === b.dev && a.inode === b.inode &&
    a.read === b.read && a.write === b.write && a.shared === b.shared;
}

/**
 * RemoteMm replaces the simulated address space of a bridged process. Mappings come from the real
 * process (re-read at most once per request, when the kernel needs them); device mappings (mmap of
 * a simulated file) are kept here. Pages the kernel pins get frames (MirrorObject); user memory
 * is otherwise read and written in place through /proc/PID/mem.
 */
export class RemoteMm extends AddressSpace {
  pid = 0;
  private memFd = -1;
  private mirror: MirrorVma[] = [];
  private devices: Vma[] = [];
  private all: Vma[] = [];
  private readonly privateObj: MirrorObject;
  private readonly hugeRanges: { start: number; end: number; obj: MirrorObject }[] = [];
  /** Real bytes of device pages at the last coherence point, per device VMA. */
  readonly deviceSnaps = new Map<Vma, Map<number, Uint8Array>>();
  private generation = 0;
  private syncedGeneration = -1;
  private stale = true;
  /**
   * Real pages read during the current request, for the small reads the kernel repeats (the
   * size field, then the struct): the caller is blocked in the request, so they cannot change.
   */
  private readonly pageCache = new Map<number, Uint8Array>();
  private gone = false;

  constructor(readonly registry: MirrorRegistry) {
    super(registry.host.frames, registry.host.mem);
    this.privateObj = registry.privateObject('anon', USER_VA_END / PAGE_SIZE, 'private');
  }

  /** Binds the mirror to the real process. */
  attach(pid: number): void {
    this.pid = pid;
    this.memFd = tryOpen(`/proc/${pid}/mem`, 'r+');
    this.stale = true;
  }

  get attached(): boolean {
    return this.memFd >= 0;
  }

  override get alive(): boolean {
    return !this.gone;
  }

  override get mappings(): readonly Vma[] {
    return this.all.slice();
  }

  get deviceMappings(): readonly Vma[] {
    return this.devices;
  }

  get mirrorMappings(): readonly MirrorVma[] {
    return this.mirror;
  }

  /** A new request: mappings and memory may have changed since the last one. */
  beginRequest(): void {
    this.generation++;
    this.pageCache.clear();
  }

  /** The real process changed its mappings in [start, end) (munmap, MAP_FIXED, mremap): its private pages there are new. */
  realUnmapped(start: number, end: number): void {
    this.privateObj.detach(Math.floor(start / PAGE_SIZE), Math.ceil(end / PAGE_SIZE) - 1);
    this.stale = true;
  }

  /** The real process changed the protection of some mappings: re-read them before trusting them. */
  realChanged(): void {
    this.stale = true;
  }

  /** Forgets the mirrors of an inode (it turned out to be hugetlb memory): the next sync makes them again. */
  remirror(key: string): void {
    this.mirror = this.mirror.filter((m) => {
      if (m.obj.key !== key) return true;
      this.dropMirror(m);
      return false;
    });
    this.rebuild();
    this.stale = true;
  }

  /** A range the shim serves as private hugetlb memory. */
  addHugeRange(start: number, end: number): void {
    const obj = this.registry.privateObject('hugetlb', (end - start) / PAGE_SIZE, `huge@${start.toString(16)}`);
    this.hugeRanges.push({ start, end, obj });
    this.stale = true;
  }

  override find(va: number): Vma | undefined {
    const a = this.all;
    let lo = 0;
    let hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = a[mid]!;
      if (va < v.start) hi = mid - 1;
      else if (va >= v.end) lo = mid + 1;
      else return v;
    }
    return undefined;
  }

  /**
   * Re-reads the real mappings: when the program changed them (the shim reports its mmap, munmap,
   * mremap and mprotect calls) or, with `fresh`, once per request (before pinning, so that new
   * pages get the identity of what is mapped now).
   */
  sync(fresh = false): void {
    if (this.gone || this.memFd < 0) return;
    if (this.syncedGeneration === this.generation || (!fresh && !this.stale)) return;
    this.syncedGeneration = this.generation;
    this.stale = false;
    let real: RealVma[];
    try {
      real = readMaps(this.pid);
    } catch {
      real = [];
    }
    const old = new Map<number, MirrorVma>();
    for (const m of this.mirror) old.set(m.start, m);
    const next: MirrorVma[] = [];
    for (const r of real) {
      if (r.start >= USER_VA_END) continue;
      if (this.devices.some((d) => d.start < r.end && d.end > r.start)) continue;
      const prev = old.get(r.start);
      if (prev && sameReal(prev.real, r)) {
        old.delete(r.start);
        next.push(prev);
        continue;
      }
      next.push(this.mirrorOf(r));
    }
    for (const m of old.values()) this.dropMirror(m);
    this.mirror = next;
    this.detachUncovered();
    this.rebuild();
  }

  private mirrorOf(r: RealVma): MirrorVma {
    const pages = (r.end - r.start) / PAGE_SIZE;
    let obj: MirrorObject;
    let pgoff: number;
    if (SPECIAL.has(r.path)) {
      obj = this.registry.privateObject('pfnmap', pages, r.path);
      pgoff = 0;
    } else if (r.shared && r.inode !== 0) {
      pgoff = r.offset / PAGE_SIZE;
      obj = this.registry.sharedObject(`${r.dev}:${r.inode}`, r.path, pgoff + pages);
      // Shared memory and memfds: read through the file itself when /proc lets us open it (CAP_SYS_ADMIN).
      if (obj.kind !== 'file') this.registry.attachFile(obj, `/proc/${this.pid}/map_files/${r.start.toString(16)}-${r.end.toString(16)}`);
    } else {
      const h = this.hugeRanges.find((x) => r.start >= x.start && r.end <= x.end);
      obj = (h ? h.obj : this.privateObj).get();
      pgoff = h ? (r.start - h.start) / PAGE_SIZE : r.start / PAGE_SIZE;
    }
    const m = new MirrorVma(this, r, obj, pgoff);
    obj.views.add(m);
    return m;
  }

  private dropMirror(m: MirrorVma): void {
    m.obj.views.delete(m);
    m.obj.put();
  }

  /** Private pages no private mapping covers any more belong to nobody (their pins keep the frames). */
  private detachUncovered(): void {
    if (this.privateObj.populated.size === 0) return;
    const covered = this.mirror.filter((m) => m.obj === this.privateObj);
    for (const index of [...this.privateObj.populated.keys()]) {
      if (!covered.some((m) => m.covers(index))) this.privateObj.detach(index, index);
    }
  }

  private rebuild(): void {
    this.all = [...this.mirror, ...this.devices].sort((a, b) => a.start - b.start);
  }

  // --- the simulated kernel's view ----------------------------------------------------------

  protected override vmaFor(va: number, write: boolean, syscall: string): Vma {
    if (this.gone) throw new ErrnoError('EFAULT', syscall, 'the address space is gone (process exited)');
    let v = this.find(va);
    if (!v || (write ? !v.write : !v.read)) {
      this.sync(true);
      v = this.find(va);
    }
    if (!v) throw new ErrnoError('EFAULT', syscall, `0x${va.toString(16)} is not mapped`);
    if (write ? !v.write : !v.read) throw new ErrnoError('EFAULT', syscall, `0x${va.toString(16)} is not ${write ? 'writable' : 'readable'}`);
    return v;
  }

  override fault(va: number, write: boolean): number {
    this.sync(true);
    return super.fault(va, write);
  }

  override pin(va: number, npages: number, write: boolean): Uint32Array {
    this.sync(true);
    return super.pin(va, npages, write);
  }

  protected override beforePinRun(v: Vma, first: number, run: number): void {
    if (v instanceof MirrorVma) v.obj.populateRun(first, run);
  }

  override read(va: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.access(va, out, false);
    return out;
  }

  override write(va: number, bytes: Uint8Array): void {
    this.access(va, bytes, true);
  }

  /** copy_from_user / copy_to_user: frames for pages the kernel holds, the real page otherwise. */
  private access(va: number, buf: Uint8Array, write: boolean): void {
    const syscall = write ? 'copy_to_user' : 'copy_from_user';
    if (!write && buf.length <= SMALL_READ && this.cachedRead(va, buf, syscall)) return;
    if (write) this.updateCache(va, buf);
    let done = 0;
    let realStart = -1;
    const flushReal = (upTo: number): void => {
      if (realStart < 0) return;
      const part = buf.subarray(realStart, upTo);
      const ok = write ? this.writeReal(va + realStart, part) : this.readReal(va + realStart, part);
      if (!ok) throw new ErrnoError('EFAULT', syscall, `0x${(va + realStart).toString(16)} cannot be accessed`);
      realStart = -1;
    };
    while (done < buf.length) {
      const a = va + done;
      const v = this.vmaFor(a, write, syscall);
      const n = Math.min(buf.length - done, v.end - a);
      let off = 0;
      while (off < n) {
        const pa = a + off;
        const chunk = Math.min(n - off, PAGE_SIZE - (pa % PAGE_SIZE));
        const pfn = v.obj.pfn(v.pgoff + Math.floor((pa - v.start) / PAGE_SIZE));
        if (pfn !== 0) {
          flushReal(done + off);
          const at = pfn * PAGE_SIZE + (pa % PAGE_SIZE);
          const part = buf.subarray(done + off, done + off + chunk);
          if (write) this.mem.write(at, part);
          else this.mem.readInto(at, part);
        } else if (realStart < 0) {
          realStart = done + off;
        }
        off += chunk;
      }
      done += n;
    }
    flushReal(done);
  }

  /** A small read served from whole real pages read once per request; false when a page the kernel holds is involved. */
  private cachedRead(va: number, buf: Uint8Array, syscall: string): boolean {
    let done = 0;
    while (done < buf.length) {
      const a = va + done;
      const v = this.vmaFor(a, false, syscall);
      const off = a % PAGE_SIZE;
      if (v.obj.pfn(v.pgoff + Math.floor((a - v.start) / PAGE_SIZE)) !== 0) return false;
      const page = a - off;
      let bytes = this.pageCache.get(page);
      if (!bytes) {
        bytes = new Uint8Array(PAGE_SIZE);
        if (!this.readReal(page, bytes)) throw new ErrnoError('EFAULT', syscall, `0x${a.toString(16)} cannot be accessed`);
        this.pageCache.set(page, bytes);
      }
      const n = Math.min(buf.length - done, PAGE_SIZE - off);
      buf.set(bytes.subarray(off, off + n), done);
      done += n;
    }
    return true;
  }

  /** A write through to the real pages keeps the request's cached copies current. */
  private updateCache(va: number, src: Uint8Array): void {
    if (this.pageCache.size === 0) return;
    for (let done = 0; done < src.length; ) {
      const a = va + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(src.length - done, PAGE_SIZE - off);
      this.pageCache.get(a - off)?.set(src.subarray(done, done + n), off);
      done += n;
    }
  }

  readReal(va: number, dst: Uint8Array): boolean {
    return this.memFd >= 0 && preadFull(this.memFd, dst, va);
  }

  writeReal(va: number, src: Uint8Array): boolean {
    return this.memFd >= 0 && pwriteFull(this.memFd, src, va);
  }

  // --- device mappings (mmap of a simulated file) -----------------------------------------------

  override map(length: number, req: MapRequest): number {
    if (this.gone) throw new ErrnoError('EFAULT', 'mmap', 'the address space is gone');
    if (req.fixed === undefined) throw new Error('a bridged mmap always names the address the shim reserved');
    const start = req.fixed;
    this.unmapDevices(start, start + length);
    const vma = vmaOf(start, length, req);
    this.devices.push(vma);
    this.devices.sort((a, b) => a.start - b.start);
    const snaps = new Map<number, Uint8Array>();
    for (let a = start; a < vma.end; a += PAGE_SIZE) snaps.set((a - start) / PAGE_SIZE, new Uint8Array(PAGE_SIZE));
    this.deviceSnaps.set(vma, snaps);
    this.mirror = this.mirror.filter((m) => {
      if (m.start < vma.end && m.end > start) {
        this.dropMirror(m);
        return false;
      }
      return true;
    });
    this.rebuild();
    return start;
  }

  override unmap(start: number, length: number): void {
    if (start % PAGE_SIZE !== 0 || length <= 0) throw new ErrnoError('EINVAL', 'munmap', `0x${start.toString(16)}+${length}`);
    const end = start + Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    this.unmapDevices(start, end);
    this.realUnmapped(start, end);
    this.rebuild();
  }

  private unmapDevices(start: number, end: number): void {
    this.devices = this.cut(this.devices, start, end);
  }

  /** A device mapping split by munmap keeps the snapshots of its pages. */
  protected override piece(v: Vma, start: number, end: number): Vma {
    const piece = super.piece(v, start, end);
    const snaps = new Map<number, Uint8Array>();
    const old = this.deviceSnaps.get(v);
    for (let a = start; a < end; a += PAGE_SIZE) snaps.set((a - start) / PAGE_SIZE, old?.get((a - v.start) / PAGE_SIZE) ?? new Uint8Array(PAGE_SIZE));
    this.deviceSnaps.set(piece, snaps);
    return piece;
  }

  protected override drop(v: Vma): void {
    this.deviceSnaps.delete(v);
    super.drop(v);
  }

  // --- process lifetime -------------------------------------------------------------------------

  /** The child's address space after a real fork: device mappings are inherited, the rest is re-read. */
  override fork(): RemoteMm {
    if (this.gone) throw new ErrnoError('EFAULT', 'fork', 'the address space is gone');
    const child = new RemoteMm(this.registry);
    for (const v of this.devices) {
      v.obj.get();
      v.file?.get();
      v.ops?.open?.();
      const copy = { ...v };
      child.devices.push(copy);
      const snaps = new Map<number, Uint8Array>();
      for (const [i, s] of this.deviceSnaps.get(v) ?? []) snaps.set(i, s.slice());
      child.deviceSnaps.set(copy, snaps);
    }
    for (const h of this.hugeRanges) child.addHugeRange(h.start, h.end);
    child.rebuild();
    return child;
  }

  /** execve: the old address space goes (device mappings closed, private pages forgotten), a new one is mirrored. */
  exec(): void {
    if (this.gone) return;
    for (const v of this.devices) this.drop(v);
    for (const m of this.mirror) this.dropMirror(m);
    this.devices = [];
    this.mirror = [];
    this.all = [];
    this.privateObj.detach(0, this.privateObj.npages);
    for (const h of this.hugeRanges) h.obj.put();
    this.hugeRanges.length = 0;
    tryClose(this.memFd);
    this.attach(this.pid);
  }

  override teardown(): void {
    if (this.gone) return;
    for (const v of this.devices) this.drop(v);
    for (const m of this.mirror) this.dropMirror(m);
    this.devices = [];
    this.mirror = [];
    this.all = [];
    this.privateObj.put();
    for (const h of this.hugeRanges) h.obj.put();
    this.hugeRanges.length = 0;
    tryClose(this.memFd);
    this.memFd = -1;
    this.gone = true;
  }

  /** MemObjects a device mapping shows (for tests). */
  objectAt(va: number): MemObject | undefined {
    return this.find(va)?.obj;
  }
}
