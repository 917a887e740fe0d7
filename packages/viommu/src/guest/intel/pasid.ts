// The guest's per-device PASID table (Linux intel/pasid.c): directory + leaf tables in guest RAM, the PASID
// entries for first-stage, second-stage and pass-through translation, and the flushes caching mode asks for.
import { PASID_ENTRY_PGTT_FL_ONLY, PASID_ENTRY_PGTT_SL_ONLY } from '@iommu-lab/hw-vtd/format';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestPageAllocator } from '../page-alloc.js';

/** PASID_PDE_SHIFT: 64 entries per leaf table. */
const PDE_SHIFT = 6;
/** FLPT_DEFAULT_DID: pass-through and SVA entries use DID 1 (VT-d 3.0 6.2.3.1). */
export const FLPT_DEFAULT_DID = 1;

export interface PasidEntryFields {
  pgtt: number;
  did: number;
  /** AW: second-stage levels - 2 (the unit's agaw). */
  aw: number;
  /** SSPTPTR (second stage) or FSPTPTR (first stage) GPA. */
  ptr: number;
  /** FSPM = 1 for 5-level first stage. */
  fl5: boolean;
  /** PWSNP: page-walk snoop (ECAP.SMPWC). */
  pwsnp: boolean;
}

/** The 8 qwords of a scalable-mode PASID entry as u32 words (VT-d 9.6). */
export function encodePasidEntry(f: PasidEntryFields, out: Uint32Array): void {
  out.fill(0);
  const ptrLo = (f.ptr % 2 ** 32) & ~0xfff;
  const ptrHi = Math.floor(f.ptr / 2 ** 32);
  out[0] = (1 | ((f.aw & 7) << 2) | ((f.pgtt & 7) << 6)) >>> 0;
  if (f.pgtt === PASID_ENTRY_PGTT_SL_ONLY) {
    out[0] = (out[0]! | ptrLo) >>> 0;
    out[1] = ptrHi;
  }
  out[2] = (f.did & 0xffff) | (f.pwsnp ? 1 << 23 : 0);
  if (f.pgtt === PASID_ENTRY_PGTT_FL_ONLY) {
    out[4] = (ptrLo | (f.fl5 ? 1 << 2 : 0)) >>> 0;
    out[5] = ptrHi;
  }
}

export class GuestPasidTable {
  /** PASID directory GPA. */
  readonly dir: number;
  readonly maxPasid: number;
  private readonly w = new Uint32Array(2);

  constructor(
    private readonly ram: GuestRam,
    private readonly pages: GuestPageAllocator,
    /** The device's max PASIDs (0 without PASID support). */
    devMaxPasid: number,
  ) {
    // intel_pasid_alloc_table: a directory of max_pasid / 64 entries, at least one page.
    const size = devMaxPasid >>> (PDE_SHIFT - 3);
    const order = size ? Math.ceil(Math.log2(Math.ceil(size / 4096))) : 0;
    this.dir = pages.alloc(2 ** order, 2 ** order);
    this.maxPasid = 2 ** (order + 12 + 3);
  }

  /** context_get_sm_pds: the directory has 2^(PDTS + 7) entries. */
  get pdts(): number {
    const pds = Math.log2(this.maxPasid >>> PDE_SHIFT);
    return pds < 7 ? 0 : pds - 7;
  }

  /** intel_pasid_get_entry: the entry's GPA, allocating the leaf table on first use. */
  entryGpa(pasid: number): number {
    if (pasid >= this.maxPasid) throw new RangeError(`PASID ${pasid} beyond the table (${this.maxPasid})`);
    const pde = this.dir + (pasid >>> PDE_SHIFT) * 8;
    this.ram.read64(pde, this.w);
    let table = (this.w[0]! >>> 12) * 4096 + this.w[1]! * 2 ** 32;
    if ((this.w[0]! & 1) === 0) {
      table = this.pages.alloc(1);
      this.ram.write64(pde, (table % 2 ** 32) | 1, Math.floor(table / 2 ** 32));
    }
    return table + (pasid & 0x3f) * 64;
  }

  /** Reads the entry (16 words). */
  read(pasid: number, out: Uint32Array): void {
    const gpa = this.entryGpa(pasid);
    for (let i = 0; i < 8; i++) {
      this.ram.read64(gpa + 8 * i, this.w);
      out[2 * i] = this.w[0]!;
      out[2 * i + 1] = this.w[1]!;
    }
  }

  /** Writes the entry; qword 0 (with P) last, as the kernel orders its stores. */
  write(pasid: number, words: Uint32Array): void {
    const gpa = this.entryGpa(pasid);
    for (let i = 7; i >= 0; i--) this.ram.write64(gpa + 8 * i, words[2 * i]!, words[2 * i + 1]!);
  }

  present(pasid: number): boolean {
    this.ram.read64(this.entryGpa(pasid), this.w);
    return (this.w[0]! & 1) !== 0;
  }
}
