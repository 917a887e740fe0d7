// smmu_find_ste: the guest's STE for a StreamID, read from guest RAM through the linear or 2-level stream table
// (IHI0070 3.3) the guest programmed in STRTAB_BASE/STRTAB_BASE_CFG.
import { EVT } from '@iommu-lab/hw-smmuv3/format';
import type { GuestRam } from '../vm/guest-ram.js';
import { SMMU_IDR1_SIDSIZE } from './idr.js';

/** What STRTAB_BASE / STRTAB_BASE_CFG hold. */
export interface StrtabRegs {
  strtabBaseLo: number;
  strtabBaseHi: number;
  strtabBaseCfg: number;
}

const pair = new Uint32Array(2);

/** ADDR [51:6] of STRTAB_BASE. */
export function strtabAddr(r: StrtabRegs): number {
  return (r.strtabBaseHi & 0xfffff) * 2 ** 32 + ((r.strtabBaseLo & ~0x3f) >>> 0);
}

/**
 * Reads the 16 words of the STE of `sid` into `out`; returns 0, or the event type (C_BAD_STREAMID,
 * F_STE_FETCH, C_BAD_STE) that the lookup ran into.
 */
export function smmuFindSte(ram: GuestRam, r: StrtabRegs, sid: number, out: Uint32Array): number {
  const log2size = r.strtabBaseCfg & 0x3f;
  if (sid >= 2 ** Math.min(log2size, SMMU_IDR1_SIDSIZE)) return EVT.C_BAD_STREAMID;
  let addr: number;
  if (((r.strtabBaseCfg >>> 16) & 3) === 1) {
    const split = (r.strtabBaseCfg >>> 6) & 0x1f;
    // The level-1 table is aligned to its size (8 bytes per descriptor, at least 64 bytes).
    const l1Shift = Math.max(6, log2size - split + 3);
    const base = strtabAddr(r) - (strtabAddr(r) % 2 ** l1Shift);
    const l1 = base + Math.floor(sid / 2 ** split) * 8;
    if (!ram.read64(l1, pair)) return EVT.F_STE_FETCH;
    const span = pair[0]! & 0x1f;
    if (span === 0) return EVT.C_BAD_STREAMID;
    const l2Index = sid % 2 ** split;
    if (l2Index >= 2 ** (span - 1)) return EVT.C_BAD_STE;
    addr = (pair[1]! & 0xfffff) * 2 ** 32 + ((pair[0]! & ~0x3f) >>> 0) + l2Index * 64;
  } else {
    const base = strtabAddr(r) - (strtabAddr(r) % 2 ** (log2size + 6));
    addr = base + sid * 64;
  }
  for (let i = 0; i < 8; i++) {
    if (!ram.read64(addr + 8 * i, pair)) return EVT.F_STE_FETCH;
    out[2 * i] = pair[0]!;
    out[2 * i + 1] = pair[1]!;
  }
  return 0;
}

export const STE_V = 1;
/** STE.Config [3:1]. */
export function steConfig(w: Uint32Array): number {
  return (w[0]! >>> 1) & 7;
}
