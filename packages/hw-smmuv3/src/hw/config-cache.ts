// The configuration cache: STEs found through the stream table and CDs through the CD table (IHI0070 3.3-3.4, 16.2).
import type { PhysMem } from '@iommu-lab/platform';
import { EVT, EVT_CLASS_CD } from '../format/event.js';
import type { SmmuHwConfig } from './config.js';
import { addr52, type CtxConfig, decodeCd, decodeSte, type StreamConfig } from './stream-config.js';
import type { Walker } from './walk.js';

/** The stream table registers the fetch uses (owned by the register file). */
export interface StrtabRegs {
  strtabBaseAddr: number;
  strtabCfg: number;
}

export interface ConfigCacheStats {
  steHits: number;
  steMisses: number;
  cdHits: number;
  cdMisses: number;
  invalidations: number;
}

/**
 * Valid STEs and CDs, cached by StreamID and SubstreamID until a CFGI command drops them. A fetch
 * that fails sets the walker's fault state (C_BAD_STREAMID, F_STE_FETCH, C_BAD_STE, C_BAD_CD,
 * C_BAD_SUBSTREAMID, F_CD_FETCH, or a stage-2 fault of class CD) and returns null.
 */
export class ConfigCache {
  readonly stats: ConfigCacheStats = { steHits: 0, steMisses: 0, cdHits: 0, cdMisses: 0, invalidations: 0 };
  private readonly streams = new Map<number, StreamConfig>();
  private readonly words = new Uint32Array(16);
  private readonly pair = new Uint32Array(2);
  private lastSid = -1;
  private last: StreamConfig | null = null;
  /** The last CD served (a one-entry front of the streams' CD maps). */
  private lastCdStream: StreamConfig | null = null;
  private lastCdIndex = -1;
  private lastCd: CtxConfig | null = null;

  constructor(
    private readonly mem: PhysMem,
    private readonly hw: SmmuHwConfig,
    private readonly regs: StrtabRegs,
    private readonly walker: Walker,
  ) {}

  stream(sid: number): StreamConfig | null {
    if (sid === this.lastSid && this.last !== null) {
      this.stats.steHits++;
      return this.last;
    }
    let sc = this.hw.configCache ? this.streams.get(sid) : undefined;
    if (sc) {
      this.stats.steHits++;
    } else {
      this.stats.steMisses++;
      sc = this.fetchStream(sid) ?? undefined;
      if (!sc) return null;
      if (this.hw.configCache) this.streams.set(sid, sc);
    }
    if (this.hw.configCache) {
      this.lastSid = sid;
      this.last = sc;
    }
    return sc;
  }

  /** The CD at `index` of a stream's CD table. */
  cd(sc: StreamConfig, index: number): CtxConfig | null {
    if (sc === this.lastCdStream && index === this.lastCdIndex) {
      this.stats.cdHits++;
      return this.lastCd;
    }
    let cd = this.hw.configCache ? sc.cds.get(index) : undefined;
    if (cd) {
      this.stats.cdHits++;
    } else {
      this.stats.cdMisses++;
      cd = this.fetchCd(sc, index) ?? undefined;
      if (!cd) return null;
      if (!this.hw.configCache) return cd;
      sc.cds.set(index, cd);
    }
    this.lastCdStream = sc;
    this.lastCdIndex = index;
    this.lastCd = cd;
    return cd;
  }

  /** Reads and decodes the STE of `sid` from memory, bypassing the cache. */
  fetchStream(sid: number): StreamConfig | null {
    const cfg = this.regs.strtabCfg;
    const log2size = cfg & 0x3f;
    const split = (cfg >>> 6) & 0x1f;
    const twoLevel = ((cfg >>> 16) & 3) === 1 && this.hw.stLevel2;
    if (sid >= 2 ** Math.min(log2size, this.hw.sidSize)) return this.fail(EVT.C_BAD_STREAMID, 0);
    let at = this.regs.strtabBaseAddr + sid * 64;
    if (twoLevel) {
      const l1 = this.regs.strtabBaseAddr + Math.floor(sid / 2 ** split) * 8;
      if (!this.mem.read64(l1, this.words)) return this.fail(EVT.F_STE_FETCH, l1);
      const span = this.words[0]! & 0x1f;
      const l2idx = sid % 2 ** split;
      if (span === 0 || l2idx >= 2 ** (span - 1)) return this.fail(EVT.C_BAD_STREAMID, 0);
      at = addr52(this.words[0]!, this.words[1]!, 6) + l2idx * 64;
    }
    if (!this.read8(at)) return this.fail(EVT.F_STE_FETCH, at);
    const d = decodeSte(sid, this.words, this.hw);
    if (!d.value) return this.fail(d.event, 0);
    return d.value;
  }

  /** Reads and decodes CD `index` from memory (through stage 2 for a nested stream), bypassing the cache. */
  fetchCd(sc: StreamConfig, index: number): CtxConfig | null {
    let at = sc.ctxPtr + index * 64;
    if (sc.s1fmt !== 0) {
      const leafBits = sc.s1fmt === 1 ? 6 : 10;
      const l1 = this.toPa(sc, sc.ctxPtr + Math.floor(index / 2 ** leafBits) * 8);
      if (l1 < 0) return null;
      if (!this.mem.read64(l1, this.words)) return this.fail(EVT.F_CD_FETCH, l1);
      if ((this.words[0]! & 1) === 0) return this.fail(EVT.C_BAD_SUBSTREAMID, 0);
      at = addr52(this.words[0]!, this.words[1]!, 12) + (index % 2 ** leafBits) * 64;
    }
    const pa = this.toPa(sc, at);
    if (pa < 0) return null;
    if (!this.read8(pa)) return this.fail(EVT.F_CD_FETCH, pa);
    const d = decodeCd(index, this.words, sc, this.hw);
    if (!d.value) return this.fail(d.event, 0);
    return d.value;
  }

  /** CFGI_STE: the STE of `sid` and every CD cached through it. */
  invalidateSte(sid: number): void {
    this.stats.invalidations++;
    this.streams.delete(sid);
    this.dropLast();
  }

  /** CFGI_STE_RANGE: StreamIDs [first, first + count). */
  invalidateSteRange(first: number, count: number): void {
    this.stats.invalidations++;
    for (const sid of [...this.streams.keys()]) if (sid >= first && sid < first + count) this.streams.delete(sid);
    this.dropLast();
  }

  /** CFGI_CD */
  invalidateCd(sid: number, ssid: number): void {
    this.stats.invalidations++;
    this.streams.get(sid)?.cds.delete(ssid);
    this.lastCdStream = null;
  }

  /** CFGI_CD_ALL */
  invalidateCdAll(sid: number): void {
    this.stats.invalidations++;
    this.streams.get(sid)?.cds.clear();
    this.lastCdStream = null;
  }

  /** Cached STEs (for dumps and tests). */
  get size(): number {
    return this.streams.size;
  }

  private dropLast(): void {
    this.lastSid = -1;
    this.last = null;
    this.lastCdStream = null;
  }

  /** An address the CD table walk uses: an IPA translated by stage 2 when the stream nests. */
  private toPa(sc: StreamConfig, addr: number): number {
    if (!sc.s2) return addr;
    const pfn = this.walker.s2(sc, Math.floor(addr / 4096), EVT_CLASS_CD, true);
    return pfn < 0 ? -1 : pfn * 4096 + (addr % 4096);
  }

  private read8(at: number): boolean {
    const w = this.words;
    const pair = this.pair;
    for (let i = 0; i < 8; i++) {
      if (!this.mem.read64(at + i * 8, pair)) return false;
      w[2 * i] = pair[0]!;
      w[2 * i + 1] = pair[1]!;
    }
    return true;
  }

  private fail(type: number, addr2: number): null {
    this.walker.fault.set(type, 0, 0, addr2);
    return null;
  }
}
