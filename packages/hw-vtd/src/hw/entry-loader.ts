// Fetches and checks root, context, PASID-directory and PASID-table entries on a cache miss (VT-d spec 3.4, 9.2-9.6).
import type { PhysMem } from '@iommu-lab/platform';
import { hasReservedBits } from '../format/bitfield.js';
import { capNdoms, VtdCap, VtdEcap } from '../format/cap.js';
import { contextEntryReserved, SM_CONTEXT_ENTRY_SIZE, ScalableContextEntry } from '../format/context-entry.js';
import * as FR from '../format/fault-reasons.js';
import { PASID_DIR_ENTRY_SIZE, PasidDirEntry, pasidDirEntryReserved } from '../format/pasid-dir-entry.js';
import {
  PASID_ENTRY_PGTT_FL_ONLY,
  PASID_ENTRY_PGTT_NESTED,
  PASID_ENTRY_PGTT_PT,
  PASID_ENTRY_PGTT_SL_ONLY,
  PASID_ENTRY_SIZE,
  PasidEntry,
  pasidEntryReserved,
} from '../format/pasid-entry.js';
import { RootEntry, rootEntryReserved, ROOT_ENTRY_SIZE } from '../format/root-entry.js';
import { CTX_DTE, CTX_FPD, CTX_PASIDE, CTX_PRE, CTX_RID_PRIV, type ContextCache } from './context-cache.js';
import { PE_EAFE, PE_ERE, PE_FPD, PE_PGSNP, PE_PWSNP, PE_SRE, PE_SSADE, PE_WPE, type PasidCache } from './pasid-cache.js';

/** Where an entry-level fault was found. */
export type EntryStage = 'root' | 'context' | 'pasid-dir' | 'pasid';

/** Reads whole entries (slow path: bigint codecs are fine here) and fills the context and PASID caches. */
export class EntryLoader {
  reason = 0;
  stage: EntryStage = 'root';
  entryPa = -1;
  entry: bigint[] = [];
  /** Fault processing disabled by the PASID-directory or PASID-table entry that was read. */
  fpd = false;
  reads = 0;
  private readonly rootRes: bigint[];
  private readonly ctxRes: bigint[];
  private readonly pdeRes: bigint[];
  private readonly peRes: bigint[];
  private readonly cap: ReturnType<typeof VtdCap.decode>;
  private readonly ecap: ReturnType<typeof VtdEcap.decode>;
  private readonly ndoms: number;

  constructor(
    private readonly mem: PhysMem,
    cap: bigint,
    ecap: bigint,
    haw: number,
  ) {
    this.rootRes = rootEntryReserved(haw);
    this.ctxRes = contextEntryReserved(haw);
    this.pdeRes = pasidDirEntryReserved(haw);
    this.peRes = pasidEntryReserved(haw);
    this.cap = VtdCap.decode([cap]);
    this.ecap = VtdEcap.decode([ecap]);
    this.ndoms = capNdoms(cap);
  }

  private read(pa: number, qwords: number): bigint[] | null {
    this.reads++;
    if (!this.mem.contains(pa, qwords * 8)) return null;
    const out: bigint[] = [];
    for (let i = 0; i < qwords; i++) out.push(this.mem.u64(pa + i * 8));
    return out;
  }

  private fail(reason: number, stage: EntryStage, pa: number, entry: bigint[] | null): false {
    this.reason = reason;
    this.stage = stage;
    this.entryPa = pa;
    this.entry = entry ?? [];
    return false;
  }

  /** Root and context entry of rid from the root table at rtaPfn; returns 'negative' for a not-present context entry. */
  loadContext(rtaPfn: number, rid: number, ctx: ContextCache, cacheNegative: boolean): boolean {
    const bus = rid >>> 8;
    const devfn = rid & 0xff;
    const rootPa = rtaPfn * 4096 + bus * ROOT_ENTRY_SIZE;
    const root = this.read(rootPa, 2);
    if (!root) return this.fail(FR.VTD_FR_SM_ROOT_ACCESS, 'root', rootPa, null);
    const r = RootEntry.decode(root);
    const upper = devfn >= 0x80;
    if (!(upper ? r.upperPresent : r.lowerPresent)) return this.fail(FR.VTD_FR_SM_ROOT_P, 'root', rootPa, root);
    const half = upper ? 1 : 0;
    if (((root[half]! & this.rootRes[half]!) !== 0n)) return this.fail(FR.VTD_FR_SM_ROOT_RSVD, 'root', rootPa, root);
    const ctp = Number(upper ? r.upperCtp : r.lowerCtp);
    const ctxPa = ctp + (devfn & 0x7f) * SM_CONTEXT_ENTRY_SIZE;
    const ce = this.read(ctxPa, 4);
    if (!ce) return this.fail(FR.VTD_FR_SM_CTX_ACCESS, 'context', ctxPa, null);
    const c = ScalableContextEntry.decode(ce);
    if (!c.present) {
      if (cacheNegative) ctx.fillNegative(rid);
      return this.fail(FR.VTD_FR_SM_CTX_P, 'context', ctxPa, ce);
    }
    if (hasReservedBits(ce, this.ctxRes)) return this.fail(FR.VTD_FR_SM_CTX_RSVD, 'context', ctxPa, ce);
    const flags = (c.fpd ? CTX_FPD : 0) | (c.dte ? CTX_DTE : 0) | (c.pasidEnable ? CTX_PASIDE : 0) | (c.pre ? CTX_PRE : 0) | (c.ridPriv ? CTX_RID_PRIV : 0);
    ctx.fill(rid, Number(c.pasidDirPtr) / 4096, c.pdts, flags, c.ridPasid);
    return true;
  }

  /** PASID-directory and PASID-table entries of (rid, pasid) below the cached context entry. Returns the cache slot or -1. */
  loadPasid(rid: number, pasid: number, ctx: ContextCache, pc: PasidCache): number {
    this.fpd = false;
    const dePa = ctx.pasidDirPfn[rid]! * 4096 + (pasid >>> 6) * PASID_DIR_ENTRY_SIZE;
    const de = this.read(dePa, 1);
    if (!de) return this.failSlot(FR.VTD_FR_SM_PDE_ACCESS, 'pasid-dir', dePa, null);
    const d = PasidDirEntry.decode(de);
    this.fpd = d.fpd;
    if (!d.present) return this.failSlot(FR.VTD_FR_SM_PDE_P, 'pasid-dir', dePa, de);
    if (hasReservedBits(de, this.pdeRes)) return this.failSlot(FR.VTD_FR_SM_PDE_RSVD, 'pasid-dir', dePa, de);
    const pePa = Number(d.pasidTablePtr) + (pasid & 63) * PASID_ENTRY_SIZE;
    const pe = this.read(pePa, 8);
    if (!pe) return this.failSlot(FR.VTD_FR_SM_PTE_ACCESS, 'pasid', pePa, null);
    const p = PasidEntry.decode(pe);
    this.fpd ||= p.fpd;
    if (!p.present) return this.failSlot(FR.VTD_FR_SM_PTE_P, 'pasid', pePa, pe);
    if (hasReservedBits(pe, this.peRes) || this.unsupportedBits(p)) return this.failSlot(FR.VTD_FR_SM_PTE_RSVD, 'pasid', pePa, pe);
    if (!this.valid(p)) return this.failSlot(FR.VTD_FR_SM_PTE_INVALID, 'pasid', pePa, pe);
    const slot = pc.claim(rid, pasid);
    pc.did[slot] = p.did;
    pc.pgtt[slot] = p.pgtt;
    pc.ssLevels[slot] = p.aw + 2;
    pc.fsLevels[slot] = p.fspm + 4;
    pc.ssptPfn[slot] = Number(p.ssptptr) / 4096;
    pc.fsptPfn[slot] = Number(p.fsptptr) / 4096;
    pc.flags[slot] =
      (this.fpd ? PE_FPD : 0) |
      (p.sre ? PE_SRE : 0) |
      (p.ere ? PE_ERE : 0) |
      (p.wpe ? PE_WPE : 0) |
      (p.eafe ? PE_EAFE : 0) |
      (p.ssade ? PE_SSADE : 0) |
      (p.pwsnp ? PE_PWSNP : 0) |
      (p.pgsnp ? PE_PGSNP : 0);
    return slot;
  }

  private failSlot(reason: number, stage: EntryStage, pa: number, entry: bigint[] | null): number {
    this.fail(reason, stage, pa, entry);
    return -1;
  }

  /** Fields that are reserved when the hardware lacks the capability behind them. */
  private unsupportedBits(p: ReturnType<typeof PasidEntry.decode>): boolean {
    return (p.sre && !this.ecap.srs) || (p.ere && !this.ecap.ers) || (p.eafe && !this.ecap.eafs) || (p.ssade && !this.ecap.ssads);
  }

  /** PGTT the hardware implements, with an AW in SAGAW and a supported first-stage paging mode. */
  private valid(p: ReturnType<typeof PasidEntry.decode>): boolean {
    const usesSs = p.pgtt === PASID_ENTRY_PGTT_SL_ONLY || p.pgtt === PASID_ENTRY_PGTT_NESTED;
    const usesFs = p.pgtt === PASID_ENTRY_PGTT_FL_ONLY || p.pgtt === PASID_ENTRY_PGTT_NESTED;
    if (p.pgtt === PASID_ENTRY_PGTT_FL_ONLY && !this.ecap.fsts) return false;
    if (p.pgtt === PASID_ENTRY_PGTT_SL_ONLY && !this.ecap.ssts) return false;
    if (p.pgtt === PASID_ENTRY_PGTT_NESTED && !(this.ecap.nest && this.ecap.fsts && this.ecap.ssts)) return false;
    if (p.pgtt === PASID_ENTRY_PGTT_PT && !this.ecap.pt) return false;
    if (!usesSs && !usesFs && p.pgtt !== PASID_ENTRY_PGTT_PT) return false;
    if (usesSs && (p.aw < 1 || p.aw > 3 || (this.cap.sagaw & (1 << p.aw)) === 0)) return false;
    if (usesFs && (p.fspm > 1 || (p.fspm === 1 && !this.cap.fs5lp))) return false;
    if (p.did >= this.ndoms) return false;
    return true;
  }
}
