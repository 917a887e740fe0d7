// Reading the guest's root, scalable-mode context and PASID entries from guest RAM (vtd_dev_to_context_entry,
// vtd_ce_get_pasid_entry). Results are 0 or the scalable-mode fault reason the lookup stopped at.
import {
  PASID_ENTRY_PGTT_FL_ONLY,
  PASID_ENTRY_PGTT_NESTED,
  PASID_ENTRY_PGTT_PT,
  PASID_ENTRY_PGTT_SL_ONLY,
  VTD_FR_SM_CTX_ACCESS,
  VTD_FR_SM_CTX_P,
  VTD_FR_SM_CTX_RSVD,
  VTD_FR_SM_PDE_ACCESS,
  VTD_FR_SM_PDE_P,
  VTD_FR_SM_PTE_ACCESS,
  VTD_FR_SM_PTE_INVALID,
  VTD_FR_SM_PTE_P,
  VTD_FR_SM_ROOT_ACCESS,
  VTD_FR_SM_ROOT_P,
  VTD_FR_SM_ROOT_RSVD,
} from '@iommu-lab/hw-vtd/format';
import type { GuestRam } from '../vm/guest-ram.js';

/** A scalable-mode context entry as 8 u32 words (val[0..3] little-endian halves). */
export type ContextWords = Uint32Array;
/** A PASID-table entry as 16 u32 words (val[0..7]). */
export type PasidWords = Uint32Array;

/** What the lookups need to know about the unit: the guest's address width and what it reports. */
export interface VtdStructureConfig {
  awBits: number;
  fsts: boolean;
  ssts: boolean;
  pt: boolean;
  /** CAP.SAGAW bits (bit 1 = 3-level, bit 2 = 4-level second stage). */
  sagaw: number;
}

/** PASID used for requests without PASID in scalable mode (the kernel programs RID_PASID = 0). */
export const PASID_0 = 0;

/** Bits of the high word at and above the address width (reserved in every address field). */
export function aboveHawHi(aw: number): number {
  return aw >= 64 ? 0 : aw <= 32 ? 0xffff_ffff : (0xffff_ffff << (aw - 32)) >>> 0;
}

/** Field readers over the word arrays (VT-d 9.4 and 9.6). */
export const ce = {
  present: (w: ContextWords) => (w[0]! & 1) !== 0,
  fpd: (w: ContextWords) => (w[0]! & 2) !== 0,
  pre: (w: ContextWords) => (w[0]! & 0x10) !== 0,
  pdts: (w: ContextWords) => (w[0]! >>> 9) & 7,
  /** PASID directory GPA. */
  pasidDir: (w: ContextWords) => (w[0]! >>> 12) * 4096 + w[1]! * 2 ** 32,
  ridPasid: (w: ContextWords) => w[2]! & 0xfffff,
};

export const pe = {
  present: (w: PasidWords) => (w[0]! & 1) !== 0,
  fpd: (w: PasidWords) => (w[0]! & 2) !== 0,
  aw: (w: PasidWords) => (w[0]! >>> 2) & 7,
  pgtt: (w: PasidWords) => (w[0]! >>> 6) & 7,
  /** SSPTPTR GPA. */
  ssptptr: (w: PasidWords) => (w[0]! >>> 12) * 4096 + w[1]! * 2 ** 32,
  did: (w: PasidWords) => w[2]! & 0xffff,
  sre: (w: PasidWords) => (w[4]! & 1) !== 0,
  fspm: (w: PasidWords) => (w[4]! >>> 2) & 3,
  wpe: (w: PasidWords) => (w[4]! & 0x10) !== 0,
  eafe: (w: PasidWords) => (w[4]! & 0x80) !== 0,
  /** FSPTPTR GPA. */
  fsptptr: (w: PasidWords) => (w[4]! >>> 12) * 4096 + w[5]! * 2 ** 32,
  /** Second-stage levels: 2 + AW. */
  ssLevel: (w: PasidWords) => 2 + ((w[0]! >>> 2) & 7),
  /** First-stage levels: 4 + FSPM. */
  fsLevel: (w: PasidWords) => 4 + ((w[4]! >>> 2) & 3),
  /** vtd_pe_get_fs_aw: 48 + 9 * FSPM. */
  fsAw: (w: PasidWords) => 48 + 9 * ((w[4]! >>> 2) & 3),
};

/** Whether two PASID entries are the same (the PASID cache's "nothing changed"). */
export function samePasidEntry(a: PasidWords, b: PasidWords): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

const e = new Uint32Array(2);
const re = new Uint32Array(4);
const pde = new Uint32Array(2);

/** Reads `qwords` 64-bit words at gpa into out; false when any lies outside guest RAM. */
function readWords(ram: GuestRam, gpa: number, qwords: number, out: Uint32Array): boolean {
  for (let i = 0; i < qwords; i++) {
    if (!ram.read64(gpa + i * 8, e)) return false;
    out[2 * i] = e[0]!;
    out[2 * i + 1] = e[1]!;
  }
  return true;
}

/** vtd_dev_to_context_entry in scalable mode, including vtd_ce_pasid_0_check; fills `out` (8 words). */
export function devToContextEntry(ram: GuestRam, root: number, cfg: VtdStructureConfig, bus: number, devfn: number, out: ContextWords, scratch: PasidWords): number {
  if (!readWords(ram, root + bus * 16, 2, re)) return VTD_FR_SM_ROOT_ACCESS;
  // Scalable mode: the lower half covers devfn 0x00-0x7f, the upper half 0x80-0xff.
  const upper = devfn > 0x7f;
  const lo = upper ? re[2]! : re[0]!;
  const hi = upper ? re[3]! : re[1]!;
  if ((lo & 1) === 0) return VTD_FR_SM_ROOT_P;
  const rsvdHi = aboveHawHi(cfg.awBits);
  if ((re[0]! & 0xffe) !== 0 || (re[1]! & rsvdHi) !== 0 || (re[2]! & 0xffe) !== 0 || (re[3]! & rsvdHi) !== 0) return VTD_FR_SM_ROOT_RSVD;
  const ctp = (lo >>> 12) * 4096 + hi * 2 ** 32;
  if (!readWords(ram, ctp + (devfn & 0x7f) * 32, 4, out)) return VTD_FR_SM_CTX_ACCESS;
  if ((out[0]! & 1) === 0) return VTD_FR_SM_CTX_P;
  // Reserved: val[0] 8:5 and above HAW, val[1] 63:21, all of val[2] and val[3].
  if ((out[0]! & 0x1e0) !== 0 || (out[1]! & rsvdHi) !== 0 || (out[2]! & 0xffe0_0000) !== 0 || out[3] !== 0) return VTD_FR_SM_CTX_RSVD;
  for (let i = 4; i < 8; i++) if (out[i] !== 0) return VTD_FR_SM_CTX_RSVD;
  return ceGetPasidEntry(ram, cfg, out, PASID_0, scratch);
}

/** vtd_ce_get_pasid_entry: directory entry, PASID-table entry, present and type checks; fills `out` (16 words). */
export function ceGetPasidEntry(ram: GuestRam, cfg: VtdStructureConfig, ctx: ContextWords, pasid: number, out: PasidWords): number {
  const dir = ce.pasidDir(ctx);
  if (!readWords(ram, dir + ((pasid >>> 6) & 0x3fff) * 8, 1, pde)) return VTD_FR_SM_PDE_ACCESS;
  if ((pde[0]! & 1) === 0) return VTD_FR_SM_PDE_P;
  const table = (pde[0]! >>> 12) * 4096 + pde[1]! * 2 ** 32;
  if (!readWords(ram, table + (pasid & 0x3f) * 64, 8, out)) return VTD_FR_SM_PTE_ACCESS;
  if (!pasidTypeCheck(cfg, out)) return VTD_FR_SM_PTE_INVALID;
  if ((out[0]! & 1) === 0) return VTD_FR_SM_PTE_P;
  return 0;
}

/** vtd_pe_type_check plus the level checks of vtd_get_pe_in_pasid_leaf_table. */
function pasidTypeCheck(cfg: VtdStructureConfig, w: PasidWords): boolean {
  switch (pe.pgtt(w)) {
    case PASID_ENTRY_PGTT_FL_ONLY:
      // QEMU's first stage walks 4 levels only.
      return cfg.fsts && pe.fsLevel(w) === 4;
    case PASID_ENTRY_PGTT_SL_ONLY:
      return cfg.ssts && (cfg.sagaw & (1 << (pe.ssLevel(w) - 2))) !== 0;
    case PASID_ENTRY_PGTT_NESTED:
      return false;
    case PASID_ENTRY_PGTT_PT:
      return cfg.pt;
    default:
      return false;
  }
}
