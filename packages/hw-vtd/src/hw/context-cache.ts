// Context cache (VT-d spec 6.2.1): scalable-mode context entries by source ID, as the hardware keeps them.
import { pdtsMaxPasid } from '../format/context-entry.js';

/** Flag bits of a cached context entry. */
export const CTX_FPD = 1;
export const CTX_DTE = 2;
export const CTX_PASIDE = 4;
export const CTX_PRE = 8;
export const CTX_RID_PRIV = 16;

const EMPTY = 0;
const PRESENT = 1;
/** A not-present entry, cached only when CAP.CM says the hardware may do so. */
const NEGATIVE = 2;

/** Direct-mapped by RID (2^16 source IDs): a lookup is one typed-array load. */
export class ContextCache {
  readonly state = new Uint8Array(65536);
  readonly pasidDirPfn = new Float64Array(65536);
  readonly pdts = new Uint8Array(65536);
  readonly flags = new Uint8Array(65536);
  readonly ridPasid = new Int32Array(65536);
  /** PASIDs the directory covers: 2^(PDTS + 7) * 64, kept so a lookup needs no power. */
  readonly maxPasid = new Float64Array(65536);
  hits = 0;
  misses = 0;
  invalidations = 0;

  /** 1 = cached present entry, 2 = cached not-present entry, 0 = miss. Counts the outcome. */
  lookup(rid: number): number {
    const s = this.state[rid]!;
    if (s === EMPTY) this.misses++;
    else this.hits++;
    return s;
  }

  fill(rid: number, dirPfn: number, pdts: number, flags: number, ridPasid: number): void {
    this.state[rid] = PRESENT;
    this.pasidDirPfn[rid] = dirPfn;
    this.pdts[rid] = pdts;
    this.flags[rid] = flags;
    this.ridPasid[rid] = ridPasid;
    this.maxPasid[rid] = pdtsMaxPasid(pdts);
  }

  fillNegative(rid: number): void {
    this.state[rid] = NEGATIVE;
  }

  invalidateAll(): void {
    this.state.fill(EMPTY);
    this.invalidations++;
  }

  /** Device-selective with a function mask: FM 0..3 ignores none, bit 2, bits 2:1, bits 2:0 of the SID. */
  invalidateDevice(sid: number, fm: number): void {
    const ignore = fm === 0 ? 0 : fm === 1 ? 4 : fm === 2 ? 6 : 7;
    const base = sid & ~ignore;
    for (let f = 0; f <= ignore; f++) if ((f & ~ignore) === 0) this.state[base | f] = EMPTY;
    this.invalidations++;
  }

  get size(): number {
    let n = 0;
    for (let i = 0; i < 65536; i++) if (this.state[i] !== EMPTY) n++;
    return n;
  }
}

export const CONTEXT_PRESENT = PRESENT;
export const CONTEXT_NEGATIVE = NEGATIVE;
