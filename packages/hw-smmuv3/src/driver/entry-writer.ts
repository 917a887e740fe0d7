// Hitless STE/CD updates (arm_smmu_write_entry): 64-bit stores in an order the SMMU never sees half-written.
import type { PhysMem } from '@iommu-lab/platform';
import { genmask } from '@iommu-lab/platform';
import { STE_CFG_BYPASS, STE_EATS_S1CHK, STE_EATS_TRANS, STE_S1DSS_BYPASS } from '../format/ste.js';

export const ENTRY_QWORDS = 8;

export interface EntryWriterOps {
  /** The bits of an entry the SMMU reads, given the entry's own configuration. */
  getUsed(entry: readonly bigint[]): bigint[];
  /** Bits that may change in any order relative to the others (optional). */
  getUpdateSafe?(cur: readonly bigint[], target: readonly bigint[]): bigint[];
  /** Make the SMMU drop what it cached of the entry (CFGI_STE/CFGI_CD + CMD_SYNC). */
  sync(): void;
}

const ALL = genmask(63, 0);

/**
 * Moves the entry at `addr` to `target` in as few synced steps as keep it valid throughout: a single
 * "critical" qword when only one qword's used bits change, else V=0, the rest, then qword 0.
 */
export function writeEntry(mem: PhysMem, addr: number, target: readonly bigint[], ops: EntryWriterOps): void {
  const entry = Array.from({ length: ENTRY_QWORDS }, (_, i) => mem.u64(addr + i * 8));
  const curUsed = ops.getUsed(entry);
  const targetUsed = ops.getUsed(target);
  const safe = ops.getUpdateSafe?.(entry, target) ?? new Array<bigint>(ENTRY_QWORDS).fill(0n);
  const unusedUpdate: bigint[] = [];
  let diff = 0;
  for (let i = 0; i < ENTRY_QWORDS; i++) {
    const s = safe[i]! & targetUsed[i]! & curUsed[i]!;
    if ((target[i]! & ~targetUsed[i]!) !== 0n) throw new Error(`entry qword ${i} sets bits its used-bits function does not report`);
    const used = curUsed[i]! & ~s & ALL;
    unusedUpdate[i] = (entry[i]! & used) | (target[i]! & ~used & ALL);
    if ((unusedUpdate[i]! & targetUsed[i]!) !== target[i]!) diff |= 1 << i;
  }
  const set = (src: readonly bigint[], start: number, len: number) => {
    let changed = false;
    for (let i = start; i < start + len; i++) {
      if (entry[i] !== src[i]) {
        entry[i] = src[i]!;
        mem.setU64(addr + i * 8, src[i]!);
        changed = true;
      }
    }
    if (changed) ops.sync();
  };
  if (diff !== 0 && (diff & (diff - 1)) === 0) {
    const critical = Math.log2(diff);
    unusedUpdate[critical] = entry[critical]!;
    set(unusedUpdate, 0, ENTRY_QWORDS);
    set(target, critical, 1);
    set(target, 0, ENTRY_QWORDS);
  } else if (diff !== 0) {
    unusedUpdate[0] = 0n;
    set(unusedUpdate, 0, 1);
    set(target, 1, ENTRY_QWORDS - 1);
    set(target, 0, 1);
  } else {
    set(target, 0, ENTRY_QWORDS);
  }
}

// STE fields by mask (arm-smmu-v3.h STRTAB_STE_*)
const V = 1n;
const CFG = genmask(3, 1);
const S1 = genmask(5, 4) | genmask(51, 6) | genmask(63, 59);
// with PPAR (bit 18), which the PRI series sets on stage-1 STEs of PASID devices with PRI
const S1_DW1 = genmask(1, 0) | genmask(7, 2) | (1n << 18n) | (1n << 27n) | genmask(31, 30) | genmask(29, 28) | (1n << 19n);
const SHCFG = genmask(45, 44);
const S2_DW1 = (1n << 25n) | genmask(29, 28) | SHCFG | (1n << 19n);
const VMID = genmask(15, 0);
const S2_DW2 = VMID | genmask(50, 32) | (1n << 51n) | (1n << 52n) | (1n << 54n) | (1n << 57n) | (1n << 58n);
const S2TTB = genmask(51, 4);
const MEV = 1n << 19n;

/** arm_smmu_get_ste_used */
export function steUsed(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(ENTRY_QWORDS).fill(0n);
  used[0] = V;
  if ((ent[0]! & V) === 0n) return used;
  used[0] |= CFG;
  const cfg = Number((ent[0]! & CFG) >> 1n);
  if (cfg & 1) {
    used[0] |= S1;
    used[1] |= S1_DW1;
    used[2] |= VMID;
    if ((ent[1]! & 3n) === BigInt(STE_S1DSS_BYPASS)) used[1] |= SHCFG;
  }
  if (cfg & 2) {
    used[1] |= S2_DW1;
    used[2] |= S2_DW2;
    used[3] |= S2TTB;
  }
  if (cfg === STE_CFG_BYPASS) used[1] |= SHCFG;
  return used;
}

/** arm_smmu_get_ste_update_safe: EATS_TRANS (unless S1CHK or S2S are involved) and MEV may change in any order. */
export function steUpdateSafe(cur: readonly bigint[], target: readonly bigint[]): bigint[] {
  const safe = new Array<bigint>(ENTRY_QWORDS).fill(0n);
  const s1chk = BigInt(STE_EATS_S1CHK) << 28n;
  const s2s = 1n << 57n;
  if (((cur[1]! | target[1]!) & s1chk) === 0n && ((cur[2]! | target[2]!) & s2s) === 0n) safe[1] |= BigInt(STE_EATS_TRANS) << 28n;
  safe[1] |= MEV;
  return safe;
}

const CD_V = 1n << 31n;
const CD_EPD0 = 1n << 14n;
const CD_TCR0 = genmask(5, 0) | genmask(7, 6) | genmask(9, 8) | genmask(11, 10) | genmask(13, 12);
const CD_TTB0 = genmask(51, 4);

/** arm_smmu_get_cd_used: everything once valid, except the TTB0 walk fields while EPD0 disables it. */
export function cdUsed(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(ENTRY_QWORDS).fill(0n);
  used[0] = CD_V;
  if ((ent[0]! & CD_V) === 0n) return used;
  used.fill(ALL);
  if ((ent[0]! & CD_EPD0) !== 0n) {
    used[0] = used[0]! & ~CD_TCR0;
    used[1] = used[1]! & ~CD_TTB0;
  }
  return used;
}
