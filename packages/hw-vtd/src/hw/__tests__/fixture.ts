// Test fixture: a VT-d unit over a small RAM, enabled, with a hand table writer and a guest window for nesting.
import { PhysMem, X86PageTable } from '@iommu-lab/platform';
import { parseVtdOptions, type VtdOptions, vtdCapabilities } from '../../options.js';
import { SS } from '../../format/ss-pte.js';
import { OffsetMemory, VtdTableWriter } from '../table-writer.js';
import { VtdHardware } from '../vtd-hw.js';

export const MiB = 2 ** 20;
/** Host page of guest page 0, and the guest RAM size in pages (32 MiB). */
export const GUEST_BASE = 0x8000;
export const GUEST_PAGES = 8192;
export const RID = 0x0100;

export function hwFixture(opts: VtdOptions = {}) {
  const mem = new PhysMem(256 * MiB);
  let next = 0x100;
  const alloc = () => {
    const p = next++;
    if (p >= GUEST_BASE) throw new Error('fixture: host table area exhausted');
    return p;
  };
  const o = parseVtdOptions(opts as Record<string, unknown>);
  const hw = new VtdHardware(mem, { ...vtdCapabilities(o), haw: o.haw });
  const w = new VtdTableWriter(mem, alloc);
  w.enable(hw);
  return { mem, hw, w, alloc, o };
}

export type Fixture = ReturnType<typeof hwFixture>;

/** A second-stage table mapping guest RAM [0, GUEST_PAGES) to host GUEST_BASE.. with 4 KiB pages. */
export function guestStage2(f: Fixture, levels = 4, bits: number = SS.R | SS.W): number {
  const root = f.alloc();
  for (let g = 0; g < GUEST_PAGES; g++) f.w.ssMap(root, levels, g, GUEST_BASE + g, 1, bits);
  return root;
}

/** A first-stage table built by a guest in its RAM (table pointers are GPAs). */
export function guestStage1(f: Fixture, levels: 4 | 5 = 4) {
  let next = 0x10;
  const galloc = () => next++;
  const gmem = new OffsetMemory(f.mem, GUEST_BASE);
  const pt = new X86PageTable(gmem, galloc, levels);
  return { pt, galloc, gmem };
}

/** Turns on queued invalidation (256-bit descriptors, one page = 128 entries) and submits descriptors by hand. */
export function queue(f: Fixture, dw: 0 | 1 = 1) {
  const base = f.alloc();
  f.hw.write64(0x90, (BigInt(base) << 12n) | (BigInt(dw) << 11n));
  f.hw.write64(0x88, 0n);
  f.hw.write32(0x18, (1 << 31) | (1 << 26));
  const size = dw ? 32 : 16;
  let tail = 0;
  return {
    base,
    /** Writes each descriptor at the tail and moves IQT past them; the hardware processes at once. */
    submit(...descs: readonly bigint[][]): void {
      for (const d of descs) {
        d.slice(0, size / 8).forEach((q, i) => f.mem.setU64(base * 4096 + tail * size + i * 8, q));
        tail = (tail + 1) % (4096 / size);
      }
      f.hw.write64(0x88, BigInt(tail * size));
    },
    get tail() {
      return tail;
    },
  };
}
