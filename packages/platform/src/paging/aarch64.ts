// AArch64 VMSAv8-64 translation table descriptors, 4 KiB granule (Arm ARM D8.3): stage 1 and stage 2.
import { bitOf, bitsOf, genmask } from '../bits.js';
import type { PtMemory, TableAllocator } from './pt-memory.js';

/** Descriptor bits in the low word (bits 31:0) and high word (bits 63:32). */
export const A64 = {
  VALID: 1 << 0,
  /** bit 1: table (levels 0-2) or page (level 3); 0 = block. */
  TABLE: 1 << 1,
  /** Stage 1: AttrIndx[2:0] at 4:2, NS 5, AP[1] 6 (EL0 access), AP[2] 7 (read-only), SH 9:8, AF 10, nG 11. */
  ATTR_SHIFT: 2,
  NS: 1 << 5,
  AP1_EL0: 1 << 6,
  AP2_RO: 1 << 7,
  SH_SHIFT: 8,
  AF: 1 << 10,
  NG: 1 << 11,
  /** Stage 2: S2AP[0] (read) bit 6, S2AP[1] (write) bit 7, MemAttr 5:2. */
  S2AP_R: 1 << 6,
  S2AP_W: 1 << 7,
  /** High word: DBM bit 51, Contiguous 52, PXN 53, UXN/XN 54. */
  DBM_HI: 1 << 19,
  CONT_HI: 1 << 20,
  PXN_HI: 1 << 21,
  UXN_HI: 1 << 22,
  /** Table descriptor high word: PXNTable 59, UXNTable 60, APTable 62:61, NSTable 63. */
  PXNTABLE_HI: 1 << 27,
  UXNTABLE_HI: 1 << 28,
  APTABLE0_HI: 1 << 29,
  APTABLE1_HI: 1 << 30,
} as const;

export interface A64DescriptorFields {
  valid: boolean;
  /** 'table' at levels 0-2, 'page' at level 3, 'block' at levels 1-2. */
  kind: 'invalid' | 'table' | 'block' | 'page' | 'reserved';
  /** Output or next-table address, bits 47:12 (48-bit OA). */
  addr: bigint;
  attrIndx: number;
  ap: number;
  sh: number;
  af: boolean;
  ng: boolean;
  dbm: boolean;
  contiguous: boolean;
  pxn: boolean;
  uxn: boolean;
  /** Stage-2 view of bits 7:6 (S2AP: bit 0 read, bit 1 write) and bits 5:2 (MemAttr). */
  s2ap: number;
  memAttr: number;
  apTable: number;
  pxnTable: boolean;
  uxnTable: boolean;
}

/** Codec of one descriptor at a given level (the level decides table vs block vs page). */
export const A64Descriptor = {
  decode(v: bigint, level: number): A64DescriptorFields {
    const t = bitsOf(v, 1, 0);
    const kind = (t & 1n) === 0n ? 'invalid' : t === 3n ? (level === 3 ? 'page' : 'table') : level === 1 || level === 2 ? 'block' : 'reserved';
    return {
      valid: (t & 1n) === 1n,
      kind,
      addr: bitsOf(v, 47, 12) << 12n,
      attrIndx: Number(bitsOf(v, 4, 2)),
      ap: Number(bitsOf(v, 7, 6)),
      sh: Number(bitsOf(v, 9, 8)),
      af: bitOf(v, 10),
      ng: bitOf(v, 11),
      dbm: bitOf(v, 51),
      contiguous: bitOf(v, 52),
      pxn: bitOf(v, 53),
      uxn: bitOf(v, 54),
      s2ap: Number(bitsOf(v, 7, 6)),
      memAttr: Number(bitsOf(v, 5, 2)),
      apTable: Number(bitsOf(v, 62, 61)),
      pxnTable: bitOf(v, 59),
      uxnTable: bitOf(v, 60),
    };
  },
  /** Encodes a table, block or page descriptor from the fields that apply to it. */
  encode(f: Partial<A64DescriptorFields> & { kind: 'table' | 'block' | 'page' }): bigint {
    const addr = f.addr ?? 0n;
    if ((addr & ~genmask(47, 12)) !== 0n) throw new RangeError(`descriptor address 0x${addr.toString(16)} is not a 4 KiB aligned 48-bit address`);
    let v = addr | 1n | (f.kind === 'block' ? 0n : 2n);
    const set = (x: number | bigint | boolean | undefined, shift: number) => {
      if (x) v |= BigInt(x === true ? 1 : x) << BigInt(shift);
    };
    if (f.kind === 'table') {
      set(f.pxnTable, 59);
      set(f.uxnTable, 60);
      set(f.apTable, 61);
      return v;
    }
    set(f.attrIndx, 2);
    set(f.ap, 6);
    set(f.memAttr, 2);
    set(f.s2ap, 6);
    set(f.sh, 8);
    set(f.af, 10);
    set(f.ng, 11);
    set(f.dbm, 51);
    set(f.contiguous, 52);
    set(f.pxn, 53);
    set(f.uxn, 54);
    return v;
  },
};

/** Initial lookup level for a stage-1 input size with a 4 KiB granule (Arm ARM D8.2.3). */
export function a64StartLevel(inputBits: number): number {
  return 4 - Math.ceil((inputBits - 12) / 9);
}

/**
 * Index bits resolved by the initial table for (inputBits, startLevel); more than 9 means
 * 2^(bits-9) concatenated tables (stage 2 only, at most 16). Returns 0 for an invalid combination.
 */
export function a64StartIndexBits(inputBits: number, startLevel: number): number {
  const bits = inputBits - (12 + 9 * (3 - startLevel));
  return bits >= 1 && bits <= 13 ? bits : 0;
}

export interface A64WalkConfig {
  stage: 1 | 2;
  /** Initial lookup level (0..3). */
  startLevel: number;
  /** Input address size: 64 - TxSZ. */
  inputBits: number;
  /** Output address size (IPS/PS/OAS); a descriptor address at or above it is an Address Size fault. */
  outputBits: number;
  /** AF = 0 raises an Access flag fault (no hardware AF update and faults not disabled). */
  accessFlagFaults: boolean;
}

export type A64WalkFault = 'fetch' | 'translation' | 'access' | 'address-size';

export class A64Walk {
  pfn = 0;
  level = 0;
  /** Effective permissions. Stage 1: read always, write from AP[2]/APTable[1], user from AP[1]/APTable[0]. */
  read = false;
  write = false;
  user = false;
  uxn = false;
  pxn = false;
  fault: A64WalkFault | null = null;
  faultLevel = 0;
  entryPa = 0;
  lo = 0;
  hi = 0;
}

const scratch = new Uint32Array(2);
// With a 48-bit OA and 4K granule, table descriptor bits 51:48 are RES0; in block and page
// descriptors only 49:48 are, as bit 51 is DBM and bit 50 GP (Arm ARM D8.3).
const OA_HI_MASK_TABLE_48 = 0x000f0000;
const OA_HI_MASK_LEAF_48 = 0x00030000;

/**
 * Walks a 4 KiB-granule table from ttbPfn for the input page inPfn (the caller checks that the
 * input address fits inputBits). Returns true on success; on failure out.fault and faultLevel say why.
 */
export function walkA64(mem: PtMemory, ttbPfn: number, inPfn: number, cfg: A64WalkConfig, out: A64Walk): boolean {
  let table = ttbPfn;
  let apTable = 0;
  let uxnT = false;
  let pxnT = false;
  out.fault = null;
  const oaLimitPfn = 2 ** (cfg.outputBits - 12);
  for (let level = cfg.startLevel; level <= 3; level++) {
    const shift = 9 * (3 - level);
    const bits = level === cfg.startLevel ? Math.max(cfg.inputBits - 12 - shift, 0) : 9;
    const index = Math.floor(inPfn / 2 ** shift) % 2 ** bits;
    const pa = table * 4096 + index * 8;
    out.entryPa = pa;
    out.faultLevel = level;
    if (!mem.read64(pa, scratch)) return failA64(out, 'fetch');
    const lo = scratch[0]!;
    const hi = scratch[1]!;
    out.lo = lo;
    out.hi = hi;
    if ((lo & A64.VALID) === 0) return failA64(out, 'translation');
    const isTable = (lo & A64.TABLE) !== 0 && level < 3;
    if ((lo & A64.TABLE) === 0 && (level === 0 || level === 3)) return failA64(out, 'translation');
    const next = (hi & 0xffff) * 1048576 + (lo >>> 12);
    if ((hi & (isTable ? OA_HI_MASK_TABLE_48 : OA_HI_MASK_LEAF_48)) !== 0 || next >= oaLimitPfn) return failA64(out, 'address-size');
    if (isTable) {
      if (cfg.stage === 1) {
        apTable |= (hi >>> 29) & 3;
        uxnT ||= (hi & A64.UXNTABLE_HI) !== 0;
        pxnT ||= (hi & A64.PXNTABLE_HI) !== 0;
      }
      table = next;
      continue;
    }
    if (cfg.accessFlagFaults && (lo & A64.AF) === 0) return failA64(out, 'access');
    const span = 2 ** shift;
    out.pfn = next - (next % span) + (inPfn % span);
    out.level = level;
    if (cfg.stage === 1) {
      out.read = true;
      out.write = (lo & A64.AP2_RO) === 0 && (apTable & 2) === 0;
      out.user = (lo & A64.AP1_EL0) !== 0 && (apTable & 1) === 0;
      out.uxn = (hi & A64.UXN_HI) !== 0 || uxnT;
      out.pxn = (hi & A64.PXN_HI) !== 0 || pxnT;
    } else {
      out.read = (lo & A64.S2AP_R) !== 0;
      out.write = (lo & A64.S2AP_W) !== 0;
      out.user = true;
      out.uxn = (hi & A64.UXN_HI) !== 0;
      out.pxn = out.uxn;
    }
    return true;
  }
  return failA64(out, 'translation');
}

function failA64(out: A64Walk, why: A64WalkFault): false {
  out.fault = why;
  return false;
}

export interface A64MapAttrs {
  /** Stage 1: writable (AP[2] = 0) and EL0-accessible (AP[1] = 1). */
  write?: boolean;
  user?: boolean;
  /** Stage 2: S2AP read/write. */
  read?: boolean;
  xn?: boolean;
  attrIndx?: number;
  memAttr?: number;
  sh?: number;
  /** Access flag (default set). */
  af?: boolean;
}

/**
 * Builds AArch64 4 KiB-granule tables: what Linux's io-pgtable-arm does for an SMMU stage 1 or
 * stage 2, or a guest kernel for a process. With a stage-2 start level that needs concatenated
 * tables, the allocator is asked for them one after another and they must be contiguous.
 */
export class A64PageTable {
  readonly root: number;
  readonly startLevel: number;
  private readonly e = new Uint32Array(2);
  private readonly startBits: number;

  constructor(
    private readonly mem: PtMemory,
    private readonly alloc: TableAllocator,
    readonly cfg: { stage: 1 | 2; inputBits: number; startLevel?: number },
  ) {
    this.startLevel = cfg.startLevel ?? a64StartLevel(cfg.inputBits);
    this.startBits = a64StartIndexBits(cfg.inputBits, this.startLevel);
    if (this.startBits === 0 || (cfg.stage === 1 && this.startBits > 9)) {
      throw new RangeError(`start level ${this.startLevel} cannot translate a ${cfg.inputBits}-bit input at stage ${cfg.stage}`);
    }
    const tables = 2 ** Math.max(this.startBits - 9, 0);
    this.root = alloc();
    for (let i = 1; i < tables; i++) {
      if (alloc() !== this.root + i) throw new RangeError('concatenated start-level tables must be contiguous');
    }
  }

  /** Maps inPfn -> pfn at `level` (3 = 4 KiB page, 2 = 2 MiB block, 1 = 1 GiB block). */
  map(inPfn: number, pfn: number, level: 1 | 2 | 3, attrs: A64MapAttrs = {}): void {
    const span = 2 ** (9 * (3 - level));
    if (inPfn % span !== 0 || pfn % span !== 0) throw new RangeError(`level-${level} mapping needs ${span}-page alignment`);
    const pa = this.entryFor(inPfn, level, true);
    let lo = A64.VALID | (level === 3 ? A64.TABLE : 0) | (attrs.af === false ? 0 : A64.AF) | ((attrs.sh ?? 3) << A64.SH_SHIFT);
    if (this.cfg.stage === 1) {
      lo |= ((attrs.attrIndx ?? 0) << A64.ATTR_SHIFT) | (attrs.write ? 0 : A64.AP2_RO) | (attrs.user ? A64.AP1_EL0 : 0) | A64.NG;
    } else {
      lo |= ((attrs.memAttr ?? 0xf) << A64.ATTR_SHIFT) | (attrs.read === false ? 0 : A64.S2AP_R) | (attrs.write ? A64.S2AP_W : 0);
    }
    lo = (lo | ((pfn % 1048576) * 4096)) >>> 0;
    const hi = (Math.floor(pfn / 1048576) & 0xffff) | (attrs.xn ? A64.UXN_HI | (this.cfg.stage === 1 ? A64.PXN_HI : 0) : 0);
    this.mem.write64(pa, lo, hi >>> 0);
  }

  unmap(inPfn: number, level: 1 | 2 | 3 = 3): boolean {
    const pa = this.entryFor(inPfn, level, false);
    if (pa < 0) return false;
    this.mem.read64(pa, this.e);
    if ((this.e[0]! & A64.VALID) === 0) return false;
    this.mem.write64(pa, 0, 0);
    return true;
  }

  private entryFor(inPfn: number, level: number, create: boolean): number {
    let table = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const pa = table * 4096 + this.index(inPfn, l) * 8;
      this.mem.read64(pa, this.e);
      const lo = this.e[0]!;
      if ((lo & A64.VALID) === 0) {
        if (!create) return -1;
        const t = this.alloc();
        this.mem.write64(pa, ((t % 1048576) * 4096 + (A64.VALID | A64.TABLE)) >>> 0, Math.floor(t / 1048576) & 0xffff);
        table = t;
      } else {
        if ((lo & A64.TABLE) === 0) throw new RangeError(`a block at level ${l} covers page 0x${inPfn.toString(16)}`);
        table = (this.e[1]! & 0xffff) * 1048576 + (lo >>> 12);
      }
    }
    return table * 4096 + this.index(inPfn, level) * 8;
  }

  private index(inPfn: number, level: number): number {
    const shift = 9 * (3 - level);
    const bits = level === this.startLevel ? this.startBits : 9;
    return Math.floor(inPfn / 2 ** shift) % 2 ** bits;
  }
}
