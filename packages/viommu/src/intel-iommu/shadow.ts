// Shadow mode (caching mode): walks the guest's second-stage table in guest RAM (vtd_page_walk_level) and turns
// what it finds into MAP/UNMAP notifications, deduplicated by the address space's iova tree (vtd_page_walk_one).
import type { GuestRam } from '../vm/guest-ram.js';
import { aboveHawHi } from './structures.js';
import type { DmaMap, IovaTree } from './iova-tree.js';

export const IOMMU_RO = 1;
export const IOMMU_WO = 2;

/** The MAP/UNMAP notifier VFIO registers on the IOMMU memory region (vfio_iommu_map_notify). */
export interface ShadowNotifier {
  map(iovaPfn: number, gpaPfn: number, pages: number, perm: number): void;
  unmap(iovaPfn: number, pages: number): void;
}

export interface PageWalkInfo {
  tree: IovaTree;
  notifier: ShadowNotifier;
  /** Deliver UNMAP events (false for a replay). */
  notifyUnmap: boolean;
  /** The guest address width (reserved-bit checks). */
  aw: number;
}

const e = new Uint32Array(2);
const target: DmaMap = { iova: 0, size: 0, translated: 0, perm: 0 };

/** Second-stage reserved bits in the low word per level, for table entries and for large leaves (scalable mode). */
const RSVD_LO = [0, 0, 0x800, 0x800, 0x880, 0x880];
const RSVD_LO_LARGE = [0, 0, 0x1f_f000, 0x3fff_f000];

function ssReservedHi(aw: number): number {
  // Address bits aw..51 and TM (bit 62); bits 61:52 and 63 are ignored.
  return (aboveHawHi(aw) & 0x000f_ffff) | 0x4000_0000;
}

/** vtd_page_walk_one: keeps the iova tree in step and notifies what changed. */
function walkOne(info: PageWalkInfo, map: boolean): void {
  const tree = info.tree;
  const mapped = tree.find(target.iova, target.size);
  if (!map && !info.notifyUnmap) return;
  if (map) {
    if (mapped) {
      if (mapped.iova === target.iova && mapped.size === target.size && mapped.translated === target.translated && mapped.perm === target.perm) return;
      // The translation changed: an unmap, then the new map (there is a window with neither).
      info.notifier.unmap(target.iova, target.size + 1);
      tree.remove(target.iova, target.size);
    }
    tree.insert(target);
    info.notifier.map(target.iova, target.translated, target.size + 1, target.perm);
  } else {
    if (!mapped) return;
    tree.remove(target.iova, target.size);
    info.notifier.unmap(target.iova, target.size + 1);
  }
}

/** vtd_page_walk_level over pages [start, end) of the table at tableGpa; permissions stack down the levels. */
export function pageWalkLevel(ram: GuestRam, info: PageWalkInfo, tableGpa: number, start: number, end: number, level: number, read: boolean, write: boolean): void {
  const span = 2 ** (9 * (level - 1));
  const rsvdHi = ssReservedHi(info.aw);
  let iova = start;
  while (iova < end) {
    const base = Math.floor(iova / span) * span;
    const next = base + span;
    const index = Math.floor(iova / span) % 512;
    if (ram.read64(tableGpa + index * 8, e)) {
      const lo = e[0]!;
      const hi = e[1]!;
      const large = (level === 2 || level === 3) && (lo & 0x80) !== 0;
      const rsvd = (lo & (large ? RSVD_LO_LARGE[level]! : RSVD_LO[level]!)) !== 0 || (hi & rsvdHi) !== 0;
      if (!rsvd) {
        const r = read && (lo & 1) !== 0;
        const w = write && (lo & 2) !== 0;
        const addrPfn = (hi & 0xf_ffff) * 2 ** 20 + (lo >>> 12);
        if (level > 1 && !large && (r || w)) {
          pageWalkLevel(ram, info, addrPfn * 4096, iova, Math.min(next, end), level - 1, r, w);
        } else {
          target.iova = base;
          target.size = span - 1;
          target.translated = addrPfn;
          target.perm = (r ? IOMMU_RO : 0) | (w ? IOMMU_WO : 0);
          walkOne(info, target.perm !== 0);
        }
      }
    }
    iova = next;
  }
}

/** vtd_address_space_unmap: one UNMAP of the notifier's whole range (up to 2^aw), then the tree is empty. */
export function unmapAll(info: PageWalkInfo): void {
  info.notifier.unmap(0, 2 ** (info.aw - 12));
  info.tree.clear();
}
