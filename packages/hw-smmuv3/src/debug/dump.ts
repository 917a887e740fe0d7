// Text dumps of translation structures (like debugfs domain_translation_struct): every valid entry, level by level.
import { A64Descriptor, a64StartLevel, hex, type PhysMem } from '@iommu-lab/platform';
import { Cd, L1Cd } from '../format/cd.js';
import { addrSizeBits } from '../format/idr.js';
import { SMMU_REG } from '../format/registers.js';
import { Ste, STE_CONFIG_NAMES } from '../format/ste.js';
import { L1Std, StrtabBaseCfg } from '../format/strtab.js';
import type { SmmuDomain } from '../driver/domain.js';
import type { SmmuMmio } from '../hw/smmu.js';

/** Pages covered by an entry at each level (4 KiB granule). */
const SPAN = [2 ** 27, 2 ** 18, 2 ** 9, 1];

export interface TableSpec {
  readonly stage: 1 | 2;
  /** Root table address (bytes; an IPA for a nested stage 1). */
  readonly root: number;
  readonly startLevel: number;
  /** Index bits of the first table (more than 9 with concatenated stage-2 tables). */
  readonly startBits: number;
}

export interface DumpOptions {
  /** Stop listing a table walk after this many lines (default 4096). */
  readonly maxLines?: number;
}

/** Reads a u64 at a table address, or null when it is not backed (outside RAM, or an IPA stage 2 does not map). */
export type TableReader = (addr: number) => bigint | null;

export function physReader(mem: PhysMem): TableReader {
  return (pa) => (mem.contains(pa, 8) ? mem.u64(pa) : null);
}

function h64(v: bigint): string {
  return '0x' + v.toString(16).padStart(16, '0');
}

function attrs(stage: 1 | 2, d: ReturnType<typeof A64Descriptor.decode>): string {
  if (stage === 1) {
    const rw = d.ap & 2 ? 'RO' : 'RW';
    const el0 = d.ap & 1 ? ' EL0' : '';
    const xn = d.uxn || d.pxn ? ` ${d.uxn ? 'U' : ''}${d.pxn ? 'P' : ''}XN` : '';
    return `${rw}${el0}${xn} AttrIndx ${d.attrIndx} SH ${d.sh}${d.af ? ' AF' : ''}${d.ng ? ' nG' : ''}${d.dbm ? ' DBM' : ''}`;
  }
  const s2ap = `${d.s2ap & 1 ? 'R' : '-'}${d.s2ap & 2 ? 'W' : '-'}`;
  return `S2AP ${s2ap}${d.uxn ? ' XN' : ''} MemAttr 0x${d.memAttr.toString(16)} SH ${d.sh}${d.af ? ' AF' : ''}`;
}

/**
 * Every valid descriptor of a 4 KiB-granule table walk, indented by level, with the input range each
 * covers. `read` reads table memory (a stage-2-translating reader for a nested stage 1).
 */
export function dumpTable(read: TableReader, spec: TableSpec, opts: DumpOptions = {}): string[] {
  const lines: string[] = [];
  const max = opts.maxLines ?? 4096;
  const inName = spec.stage === 1 ? 'IOVA' : 'IPA';
  const walk = (table: number, level: number, base: number, depth: number) => {
    const n = level === spec.startLevel ? 2 ** spec.startBits : 512;
    for (let i = 0; i < n; i++) {
      if (lines.length >= max) return;
      const at = table + i * 8;
      const v = read(at);
      const pad = '  '.repeat(depth);
      if (v === null) {
        lines.push(`${pad}L${level} table at ${hex(table)} is not readable`);
        return;
      }
      const d = A64Descriptor.decode(v, level);
      if (!d.valid) continue;
      const inAddr = base + i * SPAN[level]! * 4096;
      const head = `${pad}L${level}[${i}] @${hex(at)} ${h64(v)}`;
      if (d.kind === 'table') {
        lines.push(`${head} table ${inName} ${hex(inAddr)} -> next ${hex(d.addr)}`);
        walk(Number(d.addr), level + 1, inAddr, depth + 1);
      } else if (d.kind === 'reserved') {
        lines.push(`${head} reserved (translation fault)`);
      } else {
        const size = SPAN[level]! * 4096;
        const kind = d.kind === 'page' ? 'page' : `block ${size >= 2 ** 30 ? `${size / 2 ** 30} GiB` : `${size / 2 ** 20} MiB`}`;
        lines.push(`${head} ${kind} ${inName} ${hex(inAddr)} -> ${hex(d.addr)} ${attrs(spec.stage, d)}`);
      }
    }
  };
  walk(spec.root, spec.startLevel, 0, 0);
  if (lines.length >= max) lines.push(`... (stopped after ${max} lines)`);
  return lines;
}

/** A reader of IPAs through a stage-2 table (a software walk, no caches): for nested stage-1 tables and CDs. */
export function s2Reader(read: TableReader, s2: TableSpec): TableReader {
  return (ipa) => {
    let table = s2.root;
    for (let level = s2.startLevel; level <= 3; level++) {
      const bits = level === s2.startLevel ? s2.startBits : 9;
      const idx = Math.floor(ipa / (SPAN[level]! * 4096)) % 2 ** bits;
      const v = read(table + idx * 8);
      if (v === null) return null;
      const d = A64Descriptor.decode(v, level);
      if (!d.valid || d.kind === 'reserved') return null;
      if (d.kind === 'table') {
        table = Number(d.addr);
        continue;
      }
      const size = SPAN[level]! * 4096;
      return read(Number(d.addr) + (ipa % size));
    }
    return null;
  };
}

/**
 * The configuration and tables a StreamID (and SubstreamID) translates through, as the SMMU would find
 * them in memory now: the L1 descriptor, the STE, the CD, the stage-1 tables and the stage-2 tables.
 */
export function dumpStream(mmio: SmmuMmio, mem: PhysMem, sid: number, ssid = 0, opts: DumpOptions = {}): string {
  const read = physReader(mem);
  const out: string[] = [];
  const base = Number(mmio.read64(SMMU_REG.STRTAB_BASE) & 0xf_ffff_ffff_ffc0n);
  const cfg = StrtabBaseCfg.decode(mmio.read32(SMMU_REG.STRTAB_BASE_CFG));
  out.push(`stream 0x${sid.toString(16)}: STRTAB_BASE ${hex(base)} ${cfg.fmt === 1 ? `2-level, SPLIT ${cfg.split}` : 'linear'}, LOG2SIZE ${cfg.log2size}`);
  let steAddr = base + sid * 64;
  if (cfg.fmt === 1) {
    const l1At = base + Math.floor(sid / 2 ** cfg.split) * 8;
    const l1 = read(l1At) ?? 0n;
    const f = L1Std.decode([l1]);
    out.push(`  L1STD @${hex(l1At)} ${h64(l1)} SPAN ${f.span} L2Ptr ${hex(f.l2ptr)}`);
    if (f.span === 0) return out.join('\n');
    steAddr = Number(f.l2ptr) + (sid % 2 ** cfg.split) * 64;
  }
  const dw = Array.from({ length: 8 }, (_, i) => read(steAddr + i * 8) ?? 0n);
  const ste = Ste.decode(dw);
  out.push(`  STE @${hex(steAddr)} ${dw.slice(0, 4).map(h64).join(' ')}`);
  out.push(`    V ${ste.v} Config ${ste.config} (${STE_CONFIG_NAMES[ste.config]}) EATS ${ste.eats} MEV ${ste.mev}`);
  if (!ste.v) return out.join('\n');
  const s1 = (ste.config & 5) === 5;
  const s2 = (ste.config & 6) === 6;
  let s2spec: TableSpec | null = null;
  if (s2) {
    const startLevel = 2 - ste.s2sl0;
    const inputBits = 64 - ste.s2t0sz;
    s2spec = { stage: 2, root: Number(ste.s2ttb), startLevel, startBits: inputBits - 12 - 9 * (3 - startLevel) };
    out.push(`    VMID ${ste.s2vmid} S2T0SZ ${ste.s2t0sz} (IPA ${inputBits} bits) S2SL0 ${ste.s2sl0} S2PS ${addrSizeBits(ste.s2ps)} bits S2TTB ${hex(ste.s2ttb)} S2PTW ${ste.s2ptw} S2R ${ste.s2r}`);
  }
  const ipaRead = s2spec ? s2Reader(read, s2spec) : read;
  if (s1) {
    out.push(`    S1Fmt ${ste.s1fmt} S1ContextPtr ${hex(ste.s1ContextPtr)}${s2 ? ' (IPA)' : ''} S1CDMax ${ste.s1cdmax} S1DSS ${ste.s1dss}`);
    let cdAddr = Number(ste.s1ContextPtr) + ssid * 64;
    if (ste.s1fmt !== 0) {
      const leaf = ste.s1fmt === 1 ? 64 : 1024;
      const l1At = Number(ste.s1ContextPtr) + Math.floor(ssid / leaf) * 8;
      const l1 = L1Cd.decode([ipaRead(l1At) ?? 0n]);
      out.push(`  L1CD @${hex(l1At)} V ${l1.v} L2Ptr ${hex(l1.l2ptr)}`);
      cdAddr = Number(l1.l2ptr) + (ssid % leaf) * 64;
    }
    const cdw = Array.from({ length: 8 }, (_, i) => ipaRead(cdAddr + i * 8) ?? 0n);
    const cd = Cd.decode(cdw);
    out.push(`  CD ${ssid} @${hex(cdAddr)}${s2 ? ' (IPA)' : ''} ${cdw.slice(0, 4).map(h64).join(' ')}`);
    out.push(`    V ${cd.v} ASID ${hex(cd.asid)} T0SZ ${cd.t0sz} TG0 ${cd.tg0} IPS ${addrSizeBits(cd.ips)} bits EPD0 ${cd.epd0} EPD1 ${cd.epd1} AA64 ${cd.aa64} R ${cd.r} HA ${cd.ha} HD ${cd.hd} TTB0 ${hex(cd.ttb0)}`);
    if (cd.v && !cd.epd0) {
      const inputBits = 64 - cd.t0sz;
      const startLevel = a64StartLevel(inputBits);
      out.push(`  stage 1 (TTB0 ${hex(cd.ttb0)}${s2 ? ', tables at IPAs' : ''}):`);
      for (const l of dumpTable(ipaRead, { stage: 1, root: Number(cd.ttb0), startLevel, startBits: inputBits - 12 - 9 * (3 - startLevel) }, opts)) out.push(`    ${l}`);
    }
  }
  if (s2spec) {
    out.push(`  stage 2 (S2TTB ${hex(s2spec.root)}, VMID ${ste.s2vmid}):`);
    for (const l of dumpTable(read, s2spec, opts)) out.push(`    ${l}`);
  }
  return out.join('\n');
}

/** The tables of a paging domain (stage 1 IOVA -> PA, or stage 2 IPA -> PA) and who it is attached to. */
export function dumpDomain(domain: SmmuDomain, opts: DumpOptions = {}): string {
  const t = domain.pgtbl;
  const id = domain.stage === 'S1' ? `ASID ${domain.asid}` : `VMID ${domain.vmid}${domain.nestParent ? ', nest parent' : ''}`;
  const sids = domain.devices.map((d) => `0x${d.sid.toString(16)}${d.ssid ? `/${d.ssid}` : ''}`).join(' ') || 'none';
  const out = [`${domain.stage} paging domain, ${id}, IAS ${t.ias} OAS ${t.oas}, attached: ${sids}`];
  const spec: TableSpec = { stage: domain.stage === 'S1' ? 1 : 2, root: t.rootPfn * 4096, startLevel: t.startLevel, startBits: t.pgdBits };
  for (const l of dumpTable(physReader(domain.smmu.mem), spec, opts)) out.push(`  ${l}`);
  return out.join('\n');
}
