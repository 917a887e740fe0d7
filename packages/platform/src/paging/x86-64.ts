// x86-64 4- and 5-level paging entries (Intel SDM Vol. 3A, 4.5): CPU page tables and VT-d first stage.
import { bitOf, bitsOf, genmask } from '../bits.js';
import { type PtMemory, type TableAllocator, tableIndex } from './pt-memory.js';

/** Low-word flag bits of an entry (SDM Table 4-15..4-20). */
export const X86 = {
  P: 1 << 0,
  RW: 1 << 1,
  US: 1 << 2,
  PWT: 1 << 3,
  PCD: 1 << 4,
  A: 1 << 5,
  D: 1 << 6,
  PS: 1 << 7,
  G: 1 << 8,
  /** PAT of a 2 MiB/1 GiB leaf (bit 12); for a 4 KiB leaf PAT is bit 7. */
  PAT_LARGE: 1 << 12,
  /** XD is bit 63: bit 31 of the high word. */
  XD_HI: 0x8000_0000,
} as const;

export interface X86PteFields {
  present: boolean;
  writable: boolean;
  user: boolean;
  pwt: boolean;
  pcd: boolean;
  accessed: boolean;
  dirty: boolean;
  /** PS: a 2 MiB (PDE) or 1 GiB (PDPTE) leaf. */
  pageSize: boolean;
  global: boolean;
  xd: boolean;
  /** Physical address of the next table or of the page (bits 51:12). */
  addr: bigint;
}

/** Codec of one x86-64 paging-structure entry as a u64. */
export const X86Pte = {
  decode(v: bigint): X86PteFields {
    return {
      present: bitOf(v, 0),
      writable: bitOf(v, 1),
      user: bitOf(v, 2),
      pwt: bitOf(v, 3),
      pcd: bitOf(v, 4),
      accessed: bitOf(v, 5),
      dirty: bitOf(v, 6),
      pageSize: bitOf(v, 7),
      global: bitOf(v, 8),
      xd: bitOf(v, 63),
      addr: bitsOf(v, 51, 12) << 12n,
    };
  },
  encode(f: Partial<X86PteFields>): bigint {
    const addr = f.addr ?? 0n;
    if ((addr & ~genmask(51, 12)) !== 0n) throw new RangeError(`x86 PTE address 0x${addr.toString(16)} is not a 4 KiB aligned 52-bit address`);
    let v = addr;
    const flag = (on: boolean | undefined, bit: number) => {
      if (on) v |= 1n << BigInt(bit);
    };
    flag(f.present, 0);
    flag(f.writable, 1);
    flag(f.user, 2);
    flag(f.pwt, 3);
    flag(f.pcd, 4);
    flag(f.accessed, 5);
    flag(f.dirty, 6);
    flag(f.pageSize, 7);
    flag(f.global, 8);
    flag(f.xd, 63);
    return v;
  },
};

export interface X86WalkConfig {
  /** 4 (48-bit VA) or 5 (57-bit VA). */
  levels: 4 | 5;
  /** MAXPHYADDR: address bits above it are reserved (default 52). */
  physBits?: number;
  /** 1 GiB pages allowed (CPUID PDPE1GB / VT-d CAP.FS1GP); otherwise PS in a PDPTE is reserved. */
  pages1G?: boolean;
  /** IA32_EFER.NXE: XD is meaningful; otherwise bit 63 is reserved. */
  nxe?: boolean;
  /** Set A on every entry used, and D on the leaf when `write` (hardware A/D update). */
  setAccessed?: boolean;
}

export type X86WalkFault = 'fetch' | 'not-present' | 'reserved' | 'ad-update';

/** The result of a walk, reused between walks to avoid allocation. */
export class X86Walk {
  /** Output frame for the 4 KiB page that contains the input address. */
  pfn = 0;
  /** Leaf level: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB. */
  level = 0;
  /** Effective permissions: AND of R/W and U/S, OR of XD over all levels. */
  writable = false;
  user = false;
  xd = false;
  dirty = false;
  fault: X86WalkFault | null = null;
  /** Level whose entry failed (or the leaf). */
  faultLevel = 0;
  /** Address of the entry that failed (or of the leaf entry). */
  entryPa = 0;
  lo = 0;
  hi = 0;
}

const scratch = new Uint32Array(2);

function reservedHi(physBits: number): number {
  return physBits >= 52 ? 0 : ((1 << (52 - physBits)) - 1) << (physBits - 32);
}

/**
 * Walks from the table at rootPfn for the page vaPfn (the caller checks canonical form and
 * permissions). Returns true on success; on failure `out.fault` says why and where.
 */
export function walkX86(mem: PtMemory, rootPfn: number, vaPfn: number, write: boolean, cfg: X86WalkConfig, out: X86Walk): boolean {
  const resHi = reservedHi(cfg.physBits ?? 52) | (cfg.nxe === false ? X86.XD_HI : 0);
  let table = rootPfn;
  let writable = true;
  let user = true;
  let xd = false;
  out.fault = null;
  for (let level: number = cfg.levels; level >= 1; level--) {
    const pa = table * 4096 + tableIndex(vaPfn, level) * 8;
    out.entryPa = pa;
    out.faultLevel = level;
    if (!mem.read64(pa, scratch)) return failX86(out, 'fetch');
    let lo = scratch[0]!;
    const hi = scratch[1]!;
    out.lo = lo;
    out.hi = hi;
    if ((lo & X86.P) === 0) return failX86(out, 'not-present');
    if ((hi & resHi) !== 0) return failX86(out, 'reserved');
    const leaf = level === 1 || (lo & X86.PS) !== 0;
    if (leaf && level >= 4) return failX86(out, 'reserved');
    if (leaf && level === 3 && !cfg.pages1G) return failX86(out, 'reserved');
    if (leaf && level === 2 && ((lo >>> 13) & 0xff) !== 0) return failX86(out, 'reserved');
    if (leaf && level === 3 && ((lo >>> 13) & 0x1ffff) !== 0) return failX86(out, 'reserved');
    writable &&= (lo & X86.RW) !== 0;
    user &&= (lo & X86.US) !== 0;
    xd ||= cfg.nxe !== false && (hi & X86.XD_HI) !== 0;
    if (cfg.setAccessed) {
      const want = lo | X86.A | (leaf && write ? X86.D : 0);
      if (want !== lo) {
        if (!mem.write64(pa, want >>> 0, hi)) return failX86(out, 'ad-update');
        lo = want >>> 0;
        out.lo = lo;
      }
    }
    const next = (hi & 0xfffff) * 1048576 + (lo >>> 12);
    if (leaf) {
      const span = 2 ** (9 * (level - 1));
      out.pfn = next - (next % span) + (vaPfn % span);
      out.level = level;
      out.writable = writable;
      out.user = user;
      out.xd = xd;
      out.dirty = (lo & X86.D) !== 0;
      return true;
    }
    table = next;
  }
  return failX86(out, 'not-present');
}

function failX86(out: X86Walk, why: X86WalkFault): false {
  out.fault = why;
  return false;
}

export interface X86MapFlags {
  write?: boolean;
  user?: boolean;
  xd?: boolean;
  accessed?: boolean;
  dirty?: boolean;
  global?: boolean;
}

/**
 * Builds and edits x86-64 page tables in some memory: what a kernel does for a process (CR3) or a
 * VT-d driver for a first-stage table. Non-leaf entries are P|RW|US|A so the leaf decides.
 */
export class X86PageTable {
  readonly root: number;
  private readonly e = new Uint32Array(2);

  constructor(
    private readonly mem: PtMemory,
    private readonly alloc: TableAllocator,
    readonly levels: 4 | 5 = 4,
  ) {
    this.root = alloc();
  }

  /** Maps the page vaPfn -> pfn at `level` (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB); both must be aligned. */
  map(vaPfn: number, pfn: number, level: 1 | 2 | 3, flags: X86MapFlags = {}): void {
    const span = 2 ** (9 * (level - 1));
    if (vaPfn % span !== 0 || pfn % span !== 0) throw new RangeError(`level-${level} mapping needs ${span}-page alignment`);
    const pa = this.entryFor(vaPfn, level, true);
    let lo = X86.P | (flags.write ? X86.RW : 0) | (flags.user ? X86.US : 0) | (flags.accessed ? X86.A : 0) | (flags.dirty ? X86.D : 0) | (flags.global ? X86.G : 0) | (level > 1 ? X86.PS : 0);
    lo = (lo | ((pfn % 1048576) * 4096)) >>> 0;
    const hi = (Math.floor(pfn / 1048576) & 0xfffff) | (flags.xd ? X86.XD_HI : 0);
    this.mem.write64(pa, lo, hi >>> 0);
  }

  /** Clears the entry that maps vaPfn at `level`; returns false when nothing was mapped there. */
  unmap(vaPfn: number, level: 1 | 2 | 3 = 1): boolean {
    const pa = this.entryFor(vaPfn, level, false);
    if (pa < 0) return false;
    this.mem.read64(pa, this.e);
    if ((this.e[0]! & X86.P) === 0) return false;
    this.mem.write64(pa, 0, 0);
    return true;
  }

  /** The raw (lo, hi) entry at `level` for vaPfn, or null when a table on the way is missing. */
  entry(vaPfn: number, level: number): [number, number] | null {
    const pa = this.entryFor(vaPfn, level, false);
    if (pa < 0) return null;
    this.mem.read64(pa, this.e);
    return [this.e[0]!, this.e[1]!];
  }

  private entryFor(vaPfn: number, level: number, create: boolean): number {
    let table = this.root;
    for (let l = this.levels; l > level; l--) {
      const pa = table * 4096 + tableIndex(vaPfn, l) * 8;
      this.mem.read64(pa, this.e);
      const lo = this.e[0]!;
      const hi = this.e[1]!;
      if ((lo & X86.P) === 0) {
        if (!create) return -1;
        const t = this.alloc();
        this.mem.write64(pa, ((t % 1048576) * 4096 + (X86.P | X86.RW | X86.US | X86.A)) >>> 0, Math.floor(t / 1048576) & 0xfffff);
        table = t;
      } else {
        if ((lo & X86.PS) !== 0) throw new RangeError(`a large page at level ${l} covers page 0x${vaPfn.toString(16)}`);
        table = (hi & 0xfffff) * 1048576 + (lo >>> 12);
      }
    }
    return table * 4096 + tableIndex(vaPfn, level) * 8;
  }
}
