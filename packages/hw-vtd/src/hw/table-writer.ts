// Writes VT-d structures into memory by hand (root, context, PASID entries, second-stage tables): tests, benches, hostile guests.
import type { PhysMem, PtMemory } from '@iommu-lab/platform';
import { tableIndex } from '@iommu-lab/platform';
import { ScalableContextEntry, SM_CONTEXT_ENTRY_SIZE } from '../format/context-entry.js';
import { PasidDirEntry } from '../format/pasid-dir-entry.js';
import { PasidEntry, PASID_ENTRY_SIZE } from '../format/pasid-entry.js';
import { DMA_GCMD_SRTP, DMA_GCMD_TE, DMA_RTADDR_SMT, DMAR_GCMD_REG, DMAR_RTADDR_REG } from '../format/registers.js';
import { SS } from '../format/ss-pte.js';

type ContextFields = Parameters<typeof ScalableContextEntry.encode>[0];
type PasidFields = Parameters<typeof PasidEntry.encode>[0];

/** The registers a writer needs to turn translation on. */
export interface VtdRegisterAccess {
  write32(off: number, v: number): void;
  write64(off: number, v: bigint): void;
}

function writeQwords(mem: PhysMem, pa: number, words: readonly bigint[]): void {
  words.forEach((w, i) => mem.setU64(pa + i * 8, w));
}

export class VtdTableWriter {
  readonly rootPfn: number;

  constructor(
    readonly mem: PhysMem,
    /** A zeroed 4 KiB frame. */
    readonly alloc: () => number,
  ) {
    this.rootPfn = alloc();
  }

  /** Points RTADDR at the root table (TTM = scalable) and sets SRTP and TE. */
  enable(hw: VtdRegisterAccess): void {
    hw.write64(DMAR_RTADDR_REG, BigInt(this.rootPfn) * 4096n | DMA_RTADDR_SMT);
    hw.write32(DMAR_GCMD_REG, DMA_GCMD_SRTP);
    hw.write32(DMAR_GCMD_REG, DMA_GCMD_TE);
  }

  /** Address of rid's context entry, creating the context table (and its root entry half) when asked. */
  contextPa(rid: number, create = true): number {
    const bus = rid >>> 8;
    const upper = (rid & 0x80) !== 0;
    const rootPa = this.rootPfn * 4096 + bus * 16 + (upper ? 8 : 0);
    let half = this.mem.u64(rootPa);
    if ((half & 1n) === 0n) {
      if (!create) return -1;
      half = (BigInt(this.alloc()) << 12n) | 1n;
      this.mem.setU64(rootPa, half);
    }
    return Number(half & ~0xfffn) + (rid & 0x7f) * SM_CONTEXT_ENTRY_SIZE;
  }

  setContext(rid: number, fields: ContextFields): void {
    writeQwords(this.mem, this.contextPa(rid), ScalableContextEntry.encode(fields));
  }

  /** rid's context entry as written, or a new present one with PASIDs enabled over a one-page directory (PDTS 2). */
  context(rid: number): ReturnType<typeof ScalableContextEntry.decode> {
    const pa = this.contextPa(rid);
    let c = ScalableContextEntry.decode([0, 1, 2, 3].map((i) => this.mem.u64(pa + i * 8)));
    if (!c.present) {
      this.setContext(rid, { present: true, pasidEnable: true, pdts: 2, pasidDirPtr: BigInt(this.alloc()) * 4096n });
      c = this.context(rid);
    }
    return c;
  }

  /** Address of the PASID-table entry of (rid, pasid), creating directory entry and table as needed. */
  pasidEntryPa(rid: number, pasid: number): number {
    const c = this.context(rid);
    const dePa = Number(c.pasidDirPtr) + (pasid >>> 6) * 8;
    let de = PasidDirEntry.decode([this.mem.u64(dePa)]);
    if (!de.present) {
      this.mem.setU64(dePa, PasidDirEntry.encode({ present: true, pasidTablePtr: BigInt(this.alloc()) * 4096n })[0]!);
      de = PasidDirEntry.decode([this.mem.u64(dePa)]);
    }
    return Number(de.pasidTablePtr) + (pasid & 63) * PASID_ENTRY_SIZE;
  }

  setPasidEntry(rid: number, pasid: number, fields: PasidFields): number {
    const pa = this.pasidEntryPa(rid, pasid);
    writeQwords(this.mem, pa, PasidEntry.encode(fields));
    return pa;
  }

  /**
   * Maps gpaPfn -> hpaPfn in the second-stage table at rootPfn with `levels` levels, as a
   * level-`leaf` page (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) with low bits `bits` (R/W/PS added as needed).
   */
  ssMap(rootPfn: number, levels: number, gpaPfn: number, hpaPfn: number, leaf: 1 | 2 | 3, bits: number = SS.R | SS.W): number {
    let table = rootPfn;
    for (let l = levels; l > leaf; l--) {
      const pa = table * 4096 + tableIndex(gpaPfn, l) * 8;
      const e = this.mem.u64(pa);
      if ((e & 3n) === 0n) {
        const t = this.alloc();
        this.mem.setU64(pa, (BigInt(t) << 12n) | 3n);
        table = t;
      } else {
        table = Number((e >> 12n) & 0xff_ffff_ffffn);
      }
    }
    const pa = table * 4096 + tableIndex(gpaPfn, leaf) * 8;
    this.mem.setU64(pa, (BigInt(hpaPfn) << 12n) | BigInt(bits | (leaf > 1 ? SS.PS : 0)));
    return pa;
  }
}

/** A view of guest-physical memory at a fixed offset in host memory (what a VMM's guest RAM is), for table builders. */
export class OffsetMemory implements PtMemory {
  constructor(
    private readonly mem: PhysMem,
    /** Host page of guest page 0. */
    private readonly basePfn: number,
  ) {}

  read64(pa: number, out: Uint32Array): boolean {
    return this.mem.read64(pa + this.basePfn * 4096, out);
  }

  write64(pa: number, lo: number, hi: number): boolean {
    return this.mem.write64(pa + this.basePfn * 4096, lo, hi);
  }
}
