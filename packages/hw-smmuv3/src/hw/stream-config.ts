// STEs and CDs as the hardware uses them: decoded once into numbers, checked as IHI0070 5.2/5.4 require.
import { a64StartIndexBits, a64StartLevel } from '@iommu-lab/platform';
import { EVT } from '../format/event.js';
import { addrSizeBits } from '../format/idr.js';
import { STE_CFG_ABORT, STE_CFG_BYPASS } from '../format/ste.js';
import type { SmmuHwConfig } from './config.js';

/** The TLB tag of stage-2-only entries uses this in place of an ASID. */
export const TAG_S2_ONLY = 0x10000;

/** TLB tag of (VMID, ASID or TAG_S2_ONLY): below 2^33. */
export function tlbTag(vmid: number, asid: number): number {
  return vmid * 0x20000 + asid;
}

/** A valid STE, decoded. Addresses are byte numbers; table bases are page numbers (the model needs 4 KiB aligned tables). */
export class StreamConfig {
  /** STE.Config (4 bypass, 5 stage 1, 6 stage 2, 7 nested; 0 abort). */
  config = 0;
  s1 = false;
  s2 = false;
  s1fmt = 0;
  ctxPtr = 0;
  s1cdmax = 0;
  s1dss = 0;
  s1stalld = false;
  eats = 0;
  mev = false;
  /** STE.PPAR: the SMMU's own PRI responses carry the PASID. */
  ppar = false;
  vmid = 0;
  s2InputBits = 0;
  s2StartLevel = 0;
  /** Index bits of the first stage-2 lookup (more than 9 with concatenated tables), as a mask. */
  s2StartBits = 0;
  s2StartMask = 0;
  s2OutputBits = 0;
  /** Input and output limits in pages (2^(bits - 12)); 4 KiB-granule descriptors hold 48 address bits. */
  s2InLimit = 0;
  s2OutLimit = 0;
  s2TtbPfn = 0;
  s2Affd = false;
  s2Ptw = false;
  s2Record = false;
  s2Stall = false;
  /** Tag of stage-2-only TLB entries (S2 translate, nested S1 bypass). */
  s2Tag = 0;
  /** Decoded CDs by SubstreamID (the default CD of traffic without one sits at key -1). */
  readonly cds = new Map<number, CtxConfig>();
  constructor(readonly sid: number) {}
}

/** A valid CD, decoded. */
export class CtxConfig {
  asid = 0;
  tag = 0;
  t0InputBits = 0;
  t0StartLevel = 0;
  t0StartMask = 0;
  /** Pages below this limit use TTB0. */
  t0Limit = 0;
  ttb0Pfn = 0;
  epd0 = false;
  t1InputBits = 0;
  t1StartLevel = 0;
  t1StartMask = 0;
  /** Pages from this base up use TTB1. */
  t1Base = 0;
  ttb1Pfn = 0;
  epd1 = true;
  outputBits = 0;
  outLimit = 0;
  affd = false;
  ha = false;
  hd = false;
  stall = false;
  record = false;
  constructor(readonly ssid: number) {}
}

/** The result of a decode: the configuration, or the event type of a bad one. */
export interface Decoded<T> {
  value: T | null;
  event: number;
}

/** Address of a 64-bit field at [51:lo] from its (lo, hi) words. */
export function addr52(lo: number, hi: number, low: number): number {
  return (hi & 0xfffff) * 4294967296 + (lo >>> 0) - ((lo >>> 0) % 2 ** low);
}

/** Decodes the 16 words of an STE (IHI0070 5.2); a bad one is C_BAD_STE. */
export function decodeSte(sid: number, w: Uint32Array, hw: SmmuHwConfig): Decoded<StreamConfig> {
  const bad = { value: null, event: EVT.C_BAD_STE };
  if ((w[0]! & 1) === 0) return bad;
  const cfg = (w[0]! >>> 1) & 7;
  const s = new StreamConfig(sid);
  s.config = cfg;
  if (cfg === STE_CFG_ABORT || cfg === STE_CFG_BYPASS) return { value: s, event: 0 };
  if (cfg < 4) return bad;
  s.s1 = (cfg & 1) !== 0;
  s.s2 = (cfg & 2) !== 0;
  if ((s.s1 && !hw.s1p) || (s.s2 && !hw.s2p)) return bad;
  const oas = hw.oas;
  const dw1lo = w[2]!;
  s.mev = (dw1lo & (1 << 19)) !== 0;
  s.eats = (dw1lo >>> 28) & 3;
  s.ppar = (dw1lo & (1 << 18)) !== 0;
  if (s.eats === 3 || (s.eats !== 0 && !hw.ats)) return bad;
  if (((dw1lo >>> 30) & 3) !== 0) return bad; // STRW other than NS-EL1 needs IDR0.HYP
  s.vmid = w[4]! & (hw.vmid16 ? 0xffff : 0xff);
  if (s.s1) {
    s.s1fmt = (w[0]! >>> 4) & 3;
    if (s.s1fmt === 3 || (s.s1fmt !== 0 && !hw.cd2l)) return bad;
    s.ctxPtr = addr52(w[0]!, w[1]!, 6);
    s.s1cdmax = w[1]! >>> 27;
    if (s.s1cdmax > hw.ssidSize) return bad;
    s.s1dss = dw1lo & 3;
    if (s.s1dss === 3 && s.s1cdmax !== 0) return bad;
    s.s1stalld = (dw1lo & (1 << 27)) !== 0;
    if (s.s1stalld && hw.stallModel === 2) return bad;
    if (!s.s2 && s.ctxPtr >= 2 ** oas) return bad;
  }
  if (s.s2) {
    const hi = w[5]!;
    const t0sz = hi & 0x3f;
    const sl0 = (hi >>> 6) & 3;
    const tg = (hi >>> 14) & 3;
    const ps = Math.min(addrSizeBits((hi >>> 16) & 7), oas);
    if ((hi & (1 << 19)) === 0 || (hi & (1 << 20)) !== 0 || tg !== 0) return bad; // AArch64, little-endian, 4 KiB only
    if (t0sz < 16 || t0sz > 39 || sl0 === 3) return bad;
    const inputBits = 64 - t0sz;
    const start = 2 - sl0;
    const startBits = a64StartIndexBits(inputBits, start);
    if (startBits === 0 || inputBits > ps) return bad;
    s.s2InputBits = inputBits;
    s.s2StartLevel = start;
    s.s2StartBits = startBits;
    s.s2OutputBits = ps;
    s.s2StartMask = 2 ** startBits - 1;
    s.s2InLimit = 2 ** (inputBits - 12);
    s.s2OutLimit = 2 ** (Math.min(ps, 48) - 12);
    const ttb = addr52(w[6]!, w[7]!, 4);
    const tableBytes = 8 * 2 ** startBits;
    if (ttb % Math.max(tableBytes, 4096) !== 0 || ttb >= 2 ** ps) return bad;
    s.s2TtbPfn = ttb / 4096;
    s.s2Affd = (hi & (1 << 21)) !== 0;
    s.s2Ptw = (hi & (1 << 22)) !== 0;
    s.s2Stall = (hi & (1 << 25)) !== 0;
    s.s2Record = (hi & (1 << 26)) !== 0;
    if (s.s2Stall && hw.stallModel === 1) return bad;
    if (s.s1 && s.ctxPtr >= 2 ** inputBits) return bad;
  }
  s.s2Tag = tlbTag(s.vmid, TAG_S2_ONLY);
  return { value: s, event: 0 };
}

/** Decodes the 16 words of a CD (IHI0070 5.4) for a stream; a bad one is C_BAD_CD. */
export function decodeCd(ssid: number, w: Uint32Array, stream: StreamConfig, hw: SmmuHwConfig): Decoded<CtxConfig> {
  const bad = { value: null, event: EVT.C_BAD_CD };
  const lo = w[0]!;
  const hi = w[1]!;
  if ((lo & 0x80000000) === 0 || (hi & (1 << 9)) === 0) return bad; // V, AA64
  if ((lo & (1 << 15)) !== 0) return bad; // ENDI: little-endian tables only
  if ((hi & (1 << 14)) === 0) return bad; // A: IDR0.TERM_MODEL = 1 aborts terminated transactions
  const c = new CtxConfig(ssid);
  c.outputBits = Math.min(addrSizeBits(hi & 7), hw.oas);
  c.outLimit = 2 ** (Math.min(c.outputBits, 48) - 12);
  c.affd = (hi & (1 << 3)) !== 0;
  c.hd = (hi & (1 << 10)) !== 0;
  c.ha = (hi & (1 << 11)) !== 0;
  if ((c.ha && hw.httu < 1) || (c.hd && (hw.httu < 2 || !c.ha))) return bad;
  c.stall = (hi & (1 << 12)) !== 0;
  if (c.stall && hw.stallModel === 1) return bad;
  c.record = (hi & (1 << 13)) !== 0;
  c.asid = (hi >>> 16) & (hw.asid16 ? 0xffff : 0xff);
  c.tag = tlbTag(stream.vmid, c.asid);
  c.epd0 = (lo & (1 << 14)) !== 0;
  c.epd1 = (lo & (1 << 30)) !== 0;
  if (!c.epd0) {
    const t0sz = lo & 0x3f;
    if (t0sz < 16 || t0sz > 39 || ((lo >>> 6) & 3) !== 0) return bad; // TG0 4 KiB
    c.t0InputBits = 64 - t0sz;
    c.t0StartLevel = a64StartLevel(c.t0InputBits);
    c.t0StartMask = 2 ** a64StartIndexBits(c.t0InputBits, c.t0StartLevel) - 1;
    c.t0Limit = 2 ** (c.t0InputBits - 12);
    const ttb0 = addr52(w[2]!, w[3]!, 4);
    if (ttb0 >= 2 ** c.outputBits || ttb0 % 4096 !== 0) return bad;
    c.ttb0Pfn = ttb0 / 4096;
  }
  if (!c.epd1) {
    const t1sz = (lo >>> 16) & 0x3f;
    if (t1sz < 16 || t1sz > 39 || ((lo >>> 22) & 3) !== 2) return bad; // TG1 4 KiB
    c.t1InputBits = 64 - t1sz;
    c.t1StartLevel = a64StartLevel(c.t1InputBits);
    c.t1StartMask = 2 ** a64StartIndexBits(c.t1InputBits, c.t1StartLevel) - 1;
    c.t1Base = 2 ** 52 - 2 ** (c.t1InputBits - 12);
    const ttb1 = addr52(w[4]!, w[5]!, 4);
    if (ttb1 >= 2 ** c.outputBits || ttb1 % 4096 !== 0) return bad;
    c.ttb1Pfn = ttb1 / 4096;
  }
  return { value: c, event: 0 };
}
