// arm_smmu_write_entry: an STE or CD (8 dwords in guest RAM) changes to its target without the SMMU ever seeing
// a torn entry: hitless when only one dword's in-use bits change, else V=0 first; a sync after each step.
import { genmask } from '@iommu-lab/platform';
import type { GuestRam } from '../../vm/guest-ram.js';

export const NUM_ENTRY_QWORDS = 8;

export interface EntryWriterOps {
  /** The bits of each dword the SMMU reads for this entry. */
  getUsed(ent: readonly bigint[], used: bigint[]): void;
  /** Bits that may change in either order (both entries use them). */
  getUpdateSafe?(cur: readonly bigint[], target: readonly bigint[], safe: bigint[]): void;
  /** CFGI_STE / CFGI_CD of this entry, with a CMD_SYNC. */
  sync(): void;
}

// STE fields (IHI0070 5.2) as the kernel's STRTAB_STE_* masks.
const STE0_V = 1n;
const STE0_CFG = genmask(3, 1);
const STE0_S1 = genmask(5, 4) | genmask(51, 6) | genmask(63, 59);
const STE1_S1 = genmask(1, 0) | genmask(3, 2) | genmask(5, 4) | genmask(7, 6) | (1n << 27n) | genmask(31, 30) | genmask(29, 28) | (1n << 19n);
const STE1_S1DSS = genmask(1, 0);
const STE1_SHCFG = genmask(45, 44);
const STE1_EATS = genmask(29, 28);
const STE1_MEV = 1n << 19n;
const STE1_S2 = (1n << 25n) | STE1_EATS | STE1_SHCFG | STE1_MEV;
const STE2_VMID = genmask(15, 0);
const STE2_S2 = STE2_VMID | genmask(50, 32) | (1n << 51n) | (1n << 52n) | (1n << 54n) | (1n << 57n) | (1n << 58n);
const STE2_S2S = 1n << 57n;
const STE3_S2TTB = genmask(51, 4);
const EATS_TRANS = 1n << 28n;
const EATS_S1CHK = 2n << 28n;
const ALL = genmask(63, 0);

/** arm_smmu_get_ste_used. */
export function steUsed(ent: readonly bigint[], used: bigint[]): void {
  used.fill(0n);
  used[0] = STE0_V;
  if ((ent[0]! & STE0_V) === 0n) return;
  used[0] |= STE0_CFG;
  const cfg = Number((ent[0]! & STE0_CFG) >> 1n);
  if (cfg & 1) {
    used[0] |= STE0_S1;
    used[1] = used[1]! | STE1_S1;
    used[2] = used[2]! | STE2_VMID;
    if ((ent[1]! & STE1_S1DSS) === 1n) used[1] |= STE1_SHCFG;
  }
  if (cfg & 2) {
    used[1] = used[1]! | STE1_S2;
    used[2] = used[2]! | STE2_S2;
    used[3] = used[3]! | STE3_S2TTB;
  }
  if (cfg === 4) used[1] = used[1]! | STE1_SHCFG;
}

/** arm_smmu_get_ste_update_safe: EATS_TRANS (unless S1CHK or S2S is involved) and MEV. */
export function steUpdateSafe(cur: readonly bigint[], target: readonly bigint[], safe: bigint[]): void {
  safe.fill(0n);
  if (((cur[1]! | target[1]!) & EATS_S1CHK) === 0n && ((cur[2]! | target[2]!) & STE2_S2S) === 0n) safe[1] |= EATS_TRANS;
  safe[1] = safe[1]! | STE1_MEV;
}

/** arm_smmu_get_cd_used: V only when invalid; everything, but TTB0's fields when EPD0 disables them. */
export function cdUsed(ent: readonly bigint[], used: bigint[]): void {
  used.fill(0n);
  used[0] = 1n << 31n;
  if ((ent[0]! & (1n << 31n)) === 0n) return;
  used.fill(ALL);
  if (ent[0]! & (1n << 14n)) {
    used[0] = used[0]! & ~(genmask(5, 0) | genmask(7, 6) | genmask(9, 8) | genmask(11, 10) | genmask(13, 12));
    used[1] = used[1]! & ~genmask(51, 4);
  }
}

function readEntry(ram: GuestRam, gpa: number): bigint[] {
  const e: bigint[] = [];
  for (let i = 0; i < NUM_ENTRY_QWORDS; i++) e.push(ram.u64(gpa + 8 * i));
  return e;
}

/** entry_set: writes the dwords [start, start + len) that differ; a sync when any did. */
function entrySet(ram: GuestRam, gpa: number, ops: EntryWriterOps, target: readonly bigint[], start: number, len: number): void {
  let changed = false;
  for (let i = start; i < start + len; i++) {
    if (ram.u64(gpa + 8 * i) !== target[i]) {
      ram.setU64(gpa + 8 * i, target[i]!);
      changed = true;
    }
  }
  if (changed) ops.sync();
}

/** arm_smmu_write_entry over the entry at `gpa`; returns which way it went (for tests and traces). */
export function writeEntry(ram: GuestRam, gpa: number, target: readonly bigint[], ops: EntryWriterOps): 'hitless' | 'breaking' | 'same' {
  const entry = readEntry(ram, gpa);
  const curUsed = new Array<bigint>(NUM_ENTRY_QWORDS).fill(0n);
  const targetUsed = new Array<bigint>(NUM_ENTRY_QWORDS).fill(0n);
  const safe = new Array<bigint>(NUM_ENTRY_QWORDS).fill(0n);
  const unusedUpdate = new Array<bigint>(NUM_ENTRY_QWORDS).fill(0n);
  ops.getUsed(entry, curUsed);
  ops.getUsed(target, targetUsed);
  ops.getUpdateSafe?.(entry, target, safe);
  let diff = 0;
  for (let i = 0; i < NUM_ENTRY_QWORDS; i++) {
    safe[i] = safe[i]! & targetUsed[i]! & curUsed[i]!;
    if (target[i]! & ~targetUsed[i]!) throw new Error(`entry dword ${i} sets bits its used mask does not cover`);
    curUsed[i] = curUsed[i]! & ~safe[i]!;
    unusedUpdate[i] = (entry[i]! & curUsed[i]!) | (target[i]! & ~curUsed[i]!);
    if ((unusedUpdate[i]! & targetUsed[i]!) !== target[i]) diff |= 1 << i;
  }
  if (diff !== 0 && (diff & (diff - 1)) === 0) {
    // One critical dword: unused bits first, then that dword, then the leftovers.
    const critical = 31 - Math.clz32(diff);
    unusedUpdate[critical] = entry[critical]!;
    entrySet(ram, gpa, ops, unusedUpdate, 0, NUM_ENTRY_QWORDS);
    entrySet(ram, gpa, ops, target, critical, 1);
    entrySet(ram, gpa, ops, target, 0, NUM_ENTRY_QWORDS);
    return 'hitless';
  }
  if (diff) {
    unusedUpdate[0] = 0n;
    entrySet(ram, gpa, ops, unusedUpdate, 0, 1);
    entrySet(ram, gpa, ops, target, 1, NUM_ENTRY_QWORDS - 1);
    entrySet(ram, gpa, ops, target, 0, 1);
    return 'breaking';
  }
  entrySet(ram, gpa, ops, target, 0, NUM_ENTRY_QWORDS);
  return 'same';
}
