// Frames and real pages agree at every syscall boundary: refresh before a request, write back after it.
import { PAGE_SIZE, PHYS_CHUNK_SHIFT, type PhysMem } from '@iommu-lab/platform';
import { MAX_RUN, type MirrorObject } from './mirror-object.js';
import type { MirrorRegistry } from './registry.js';
import type { RemoteMm } from './remote-mm.js';

const CHUNK_MASK = (1 << PHYS_CHUNK_SHIFT) - 1;

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** Counters of the coherence work (pages copied each way). */
export interface CoherenceStats {
  refreshed: number;
  writtenBack: number;
}

export class Coherence {
  readonly stats: CoherenceStats = { refreshed: 0, writtenBack: 0 };
  private readonly run = new Uint8Array(MAX_RUN * PAGE_SIZE);

  constructor(
    private readonly registry: MirrorRegistry,
    private readonly mem: PhysMem,
  ) {}

  /** A read-only view of `count` consecutive frames in one PhysMem chunk (no copy). */
  private frames(pfn: number, count = 1): Uint8Array {
    const pa = pfn * PAGE_SIZE;
    const c = this.mem.chunks32[pa >>> PHYS_CHUNK_SHIFT]!;
    return new Uint8Array(c.buffer, c.byteOffset + (pa & CHUNK_MASK), count * PAGE_SIZE);
  }

  /** A page read from the real process: its frame takes the bytes when they changed. */
  private take(obj: MirrorObject, index: number, bytes: Uint8Array): void {
    const snap = obj.snapshots.get(index)!;
    if (same(bytes, snap)) return;
    snap.set(bytes);
    this.mem.write(obj.pfn(index) * PAGE_SIZE, bytes);
    this.stats.refreshed++;
  }

  /** Before a request: every frame standing for a real page takes the page's current bytes. */
  refresh(mms: Iterable<RemoteMm>): void {
    for (const mm of mms) mm.sync();
    for (const obj of this.registry.objects) {
      if (obj.populated.size === 0) continue;
      for (const r of obj.runs()) {
        const view = obj.viewOf(r.first);
        const buf = this.run.subarray(0, r.count * PAGE_SIZE);
        if (view && view.runEnd(r.first) >= r.first + r.count && view.readPage(r.first, buf)) {
          if (same(buf, r.snap)) continue;
          for (let k = 0; k < r.count; k++) this.take(obj, r.first + k, buf.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE));
        } else {
          const one = this.run.subarray(0, PAGE_SIZE);
          for (let k = 0; k < r.count; k++) if (obj.readReal(r.first + k, one)) this.take(obj, r.first + k, one);
        }
      }
    }
    const tmp = this.run.subarray(0, PAGE_SIZE);
    for (const mm of mms) {
      for (const v of mm.deviceMappings) {
        const snaps = mm.deviceSnaps.get(v)!;
        for (const [i, snap] of snaps) {
          const pfn = v.obj.pfn(v.pgoff + i);
          if (pfn === 0 || !mm.readReal(v.start + i * PAGE_SIZE, tmp) || same(tmp, snap)) continue;
          snap.set(tmp);
          this.mem.write(pfn * PAGE_SIZE, tmp);
          this.stats.refreshed++;
        }
      }
    }
  }

  /** After a request: frames the simulated kernel changed go back to their real pages; unpinned pages are dropped. */
  writeback(mms: Iterable<RemoteMm>): void {
    for (const obj of this.registry.objects) {
      if (obj.populated.size === 0) continue;
      for (const r of obj.runs()) {
        if (same(this.frames(r.pfn, r.count), r.snap)) continue;
        for (let k = 0; k < r.count; k++) {
          const f = this.frames(r.pfn + k);
          const snap = r.snap.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE);
          if (same(f, snap)) continue;
          obj.writeReal(r.first + k, f);
          snap.set(f);
          this.stats.writtenBack++;
        }
      }
    }
    for (const mm of mms) {
      for (const v of mm.deviceMappings) {
        const snaps = mm.deviceSnaps.get(v)!;
        for (const [i, snap] of snaps) {
          const pfn = v.obj.pfn(v.pgoff + i);
          if (pfn === 0) continue;
          const f = this.frames(pfn);
          if (same(f, snap)) continue;
          mm.writeReal(v.start + i * PAGE_SIZE, f);
          snap.set(f);
          this.stats.writtenBack++;
        }
      }
    }
    for (const obj of [...this.registry.objects]) obj.trim();
  }
}
