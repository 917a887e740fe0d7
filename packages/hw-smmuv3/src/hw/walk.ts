// Stage-1, stage-2 and nested table walks over 4 KiB-granule AArch64 tables (Arm ARM D8, IHI0070 3.4).
import type { PhysMem } from '@iommu-lab/platform';
import { DMA_EXEC, DMA_PRIV, DMA_WRITE } from '@iommu-lab/platform';
import { EVT, EVT_CLASS_IN, EVT_CLASS_TT } from '../format/event.js';
import type { CtxConfig, StreamConfig } from './stream-config.js';

// Permission bits of a translation: data read/write and instruction fetch, privileged and unprivileged.
export const PERM_R_PRIV = 1;
export const PERM_W_PRIV = 2;
export const PERM_X_PRIV = 4;
export const PERM_R_USER = 8;
export const PERM_W_USER = 16;
export const PERM_X_USER = 32;
export const PERM_ALL = 63;

const NEED = new Uint8Array(16);
for (let a = 0; a < 16; a++) {
  const kind = a & DMA_EXEC ? 2 : a & DMA_WRITE ? 1 : 0;
  NEED[a] = 1 << (kind + (a & DMA_PRIV ? 0 : 3));
}

/** The permission bit a DMA access (DMA_READ/WRITE/EXEC/PRIV) needs. */
export function permNeeded(access: number): number {
  return NEED[access & 15]!;
}

/** Stage-2 leaf S2AP (bits 7:6) and XN (bit 54) as the six permission bits. */
export function s2PermBits(lo: number, hi: number): number {
  return ((lo & 0x40) !== 0 ? PERM_R_PRIV | PERM_R_USER : 0) | ((lo & 0x80) !== 0 ? PERM_W_PRIV | PERM_W_USER : 0) | ((hi & 0x400000) === 0 ? PERM_X_PRIV | PERM_X_USER : 0);
}

/** Stage-1 leaf AP[2:1], PXN and UXN with the APTable/XNTable bits gathered on the way, as the six permission bits. */
export function s1PermBits(lo: number, hi: number, apTable: number, xnTable: number): number {
  const ro = (lo & 0x80) !== 0 || (apTable & 2) !== 0;
  const el0 = (lo & 0x40) !== 0 && (apTable & 1) === 0;
  const pxn = (hi & 0x200000) !== 0 || (xnTable & 1) !== 0;
  const uxn = (hi & 0x400000) !== 0 || (xnTable & 2) !== 0;
  return PERM_R_PRIV | (ro ? 0 : PERM_W_PRIV) | (pxn ? 0 : PERM_X_PRIV) | (el0 ? PERM_R_USER | (ro ? 0 : PERM_W_USER) | (uxn ? 0 : PERM_X_USER) : 0);
}

/** Pages covered by one entry at each level (4 KiB granule), and the reciprocals (exact: powers of two). */
const SPAN = [134217728, 262144, 512, 1];
const INV_SPAN = SPAN.map((s) => 1 / s);
const TWO32 = 4294967296;
// Descriptor bits 49:48 are RES0 with a 48-bit output address (50 is GP, 51 DBM): set, they are an Address size fault.

/** Why a walk stopped: the event type and the fields of its record. */
export class FaultState {
  type = 0;
  s2 = 0;
  cls = 0;
  /** IPA (stage-2 faults) or fetch address (F_*_FETCH, F_WALK_EABT), in bytes. */
  addr2 = 0;

  set(type: number, s2: number, cls: number, addr2: number): -1 {
    this.type = type;
    this.s2 = s2;
    this.cls = cls;
    this.addr2 = addr2;
    return -1;
  }
}

/**
 * The table walker. Results land in fields (no allocation): `pages` is the span of the translation
 * in 4 KiB pages and `perm` its permission bits. With `updates` off (a detector's fresh walk) the
 * Access flag and dirty state are not written back.
 */
export class Walker {
  readonly fault = new FaultState();
  readonly buf = new Uint32Array(2);
  /** Descriptors read (every level of both stages). */
  reads = 0;
  perm = 0;
  pages = 1;
  s2Perm = 0;
  s2Pages = 1;
  updates = true;
  /** Hardware update of the Access flag / dirty state at stage 1 (IDR0.HTTU, gated by CD.HA/HD). */
  constructor(private readonly mem: PhysMem) {}

  /**
   * Stage 2: the PA page of an IPA page, or -1 with `fault` set (S2=1 and `cls`). A fetch of a CD or
   * a stage-1 table needs read permission and, with S2PTW, Normal memory.
   */
  s2(sc: StreamConfig, ipaPfn: number, cls: number, fetch: boolean): number {
    const f = this.fault;
    if (ipaPfn >= sc.s2InLimit) return f.set(EVT.F_TRANSLATION, 1, cls, ipaPfn * 4096);
    const buf = this.buf;
    const limit = sc.s2OutLimit;
    let table = sc.s2TtbPfn;
    let mask = sc.s2StartMask;
    for (let level = sc.s2StartLevel; level <= 3; level++) {
      const pa = table * 4096 + (((ipaPfn * INV_SPAN[level]!) >>> 0) & mask) * 8;
      mask = 511;
      this.reads++;
      if (!this.mem.read64(pa, buf)) return f.set(EVT.F_WALK_EABT, 1, cls, pa);
      const lo = buf[0]!;
      const hi = buf[1]!;
      if ((lo & 1) === 0 || ((lo & 2) === 0 && (level === 0 || level === 3))) return f.set(EVT.F_TRANSLATION, 1, cls, ipaPfn * 4096);
      // bits 49:48 join the address so that one compare catches both them and an OA beyond the limit
      const next = (hi & 0x3ffff) * 1048576 + (lo >>> 12);
      if (next >= limit) return f.set(EVT.F_ADDR_SIZE, 1, cls, ipaPfn * 4096);
      if ((lo & 2) !== 0 && level < 3) {
        table = next;
        continue;
      }
      if ((lo & 0x400) === 0 && !sc.s2Affd) return f.set(EVT.F_ACCESS, 1, cls, ipaPfn * 4096);
      const span = SPAN[level]!;
      const r = (lo & 0x40) !== 0;
      if (fetch && (!r || (sc.s2Ptw && (lo & 0x30) === 0))) return f.set(EVT.F_PERMISSION, 1, cls, ipaPfn * 4096);
      this.s2Perm = s2PermBits(lo, hi);
      this.s2Pages = span;
      const low = span - 1;
      return next - (next & low) + (ipaPfn & low);
    }
    return f.set(EVT.F_TRANSLATION, 1, cls, ipaPfn * 4096);
  }

  /**
   * Stage 1 of `cd`: the output page (an IPA when the stream nests, the PA otherwise) or -1 with
   * `fault` set. Table addresses of a nested stream go through stage 2 first.
   */
  s1(sc: StreamConfig, cd: CtxConfig, iovaPfn: number, access: number): number {
    const f = this.fault;
    let table: number;
    let level: number;
    let mask: number;
    let inPfn = iovaPfn;
    if (!cd.epd0 && iovaPfn < cd.t0Limit) {
      table = cd.ttb0Pfn;
      level = cd.t0StartLevel;
      mask = cd.t0StartMask;
    } else {
      if (cd.epd1 || iovaPfn < cd.t1Base) return f.set(EVT.F_TRANSLATION, 0, EVT_CLASS_IN, 0);
      table = cd.ttb1Pfn;
      level = cd.t1StartLevel;
      mask = cd.t1StartMask;
      inPfn = iovaPfn - cd.t1Base;
    }
    const nested = sc.s2;
    const buf = this.buf;
    const limit = cd.outLimit;
    let apTable = 0;
    let xnTable = 0;
    for (; level <= 3; level++) {
      const index = ((inPfn * INV_SPAN[level]!) >>> 0) & mask;
      mask = 511;
      let tablePa = table;
      if (nested) {
        tablePa = this.s2(sc, table, EVT_CLASS_TT, true);
        if (tablePa < 0) return -1;
      }
      const pa = tablePa * 4096 + index * 8;
      this.reads++;
      if (!this.mem.read64(pa, buf)) return f.set(EVT.F_WALK_EABT, 0, EVT_CLASS_TT, pa);
      let lo = buf[0]!;
      const hi = buf[1]!;
      if ((lo & 1) === 0 || ((lo & 2) === 0 && (level === 0 || level === 3))) return f.set(EVT.F_TRANSLATION, 0, EVT_CLASS_IN, 0);
      const next = (hi & 0x3ffff) * 1048576 + (lo >>> 12);
      if (next >= limit) return f.set(EVT.F_ADDR_SIZE, 0, EVT_CLASS_IN, 0);
      if ((lo & 2) !== 0 && level < 3) {
        apTable |= (hi >>> 29) & 3;
        xnTable |= (hi >>> 27) & 3;
        table = next;
        continue;
      }
      if ((lo & 0x400) === 0) {
        if (cd.ha && this.updates) {
          lo = (lo | 0x400) >>> 0;
          this.mem.write64(pa, lo, hi);
        } else if (!cd.affd) return f.set(EVT.F_ACCESS, 0, EVT_CLASS_IN, 0);
      }
      // Writable-clean (DBM with AP[2] set) becomes writable-dirty on a write when CD.HD allows it.
      if ((lo & 0x80) !== 0 && (hi & 0x80000) !== 0 && cd.hd && (apTable & 2) === 0 && (access & DMA_WRITE) !== 0 && this.updates) {
        lo = (lo & ~0x80) >>> 0;
        this.mem.write64(pa, lo, hi);
      }
      const span = SPAN[level]!;
      this.perm = s1PermBits(lo, hi, apTable, xnTable);
      this.pages = span;
      const low = span - 1;
      return next - (next & low) + (inPfn & low);
    }
    return f.set(EVT.F_TRANSLATION, 0, EVT_CLASS_IN, 0);
  }
}

/** The (lo, hi) words of a 64-bit byte address given as a page number (exact up to 2^52 pages). */
export function pageAddrWords(pfn: number, out: Uint32Array, at: number): void {
  out[at] = ((pfn % 1048576) * 4096) >>> 0;
  out[at + 1] = Math.floor(pfn / 1048576) >>> 0;
}

/** The (lo, hi) words of a byte address below 2^53. */
export function addrWords(a: number, out: Uint32Array, at: number): void {
  out[at] = a % TWO32 >>> 0;
  out[at + 1] = Math.floor(a / TWO32) >>> 0;
}
