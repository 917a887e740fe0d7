// Context descriptor tables (arm_smmu_alloc_cd_tables, arm_smmu_alloc_cd_ptr, arm_smmu_write_cd_entry, arm_smmu_make_s1_cd).
import { Cd, CD_SIZE, L1Cd } from '../format/cd.js';
import { STE_S1FMT_64K_L2, STE_S1FMT_LINEAR } from '../format/ste.js';
import { cmdCfgiCd } from './cmds.js';
import { cdUsed, writeEntry } from './entry-writer.js';
import type { SmmuMaster } from './master.js';
import type { IoPgtableArm } from './io-pgtable-arm.js';

/** CTXDESC_L2_ENTRIES: CDs per level-2 table (64 KiB). */
export const CTXDESC_L2_ENTRIES = 1024;
/** CTXDESC_LINEAR_CDMAX: a linear table is at most 64 KiB. */
export const CTXDESC_LINEAR_CDMAX = 10;

export class CdTable {
  readonly s1fmt: number;
  /** log2 of the number of CDs (STE.S1CDMax). */
  readonly s1cdmax: number;
  /** The linear table or the L1 table (page number). */
  readonly basePfn: number;
  readonly numL1: number;
  /** CDs other than SSID 0 that are valid. */
  usedSsids = 0;
  /** The installed STE points at this table (Config = S1 translate). */
  inSte = false;
  private readonly l2 = new Map<number, number>();
  private readonly order: number;

  constructor(private readonly master: SmmuMaster) {
    const smmu = master.smmu;
    this.s1cdmax = master.ssidBits;
    const max = 2 ** this.s1cdmax;
    if (!smmu.features.twoLvlCdtab || max <= CTXDESC_L2_ENTRIES) {
      this.s1fmt = STE_S1FMT_LINEAR;
      this.numL1 = 0;
      this.order = Math.max(0, Math.ceil(Math.log2((max * CD_SIZE) / 4096)));
    } else {
      this.s1fmt = STE_S1FMT_64K_L2;
      this.numL1 = Math.ceil(max / CTXDESC_L2_ENTRIES);
      this.order = Math.max(0, Math.ceil(Math.log2((this.numL1 * 8) / 4096)));
    }
    this.basePfn = smmu.frames.alloc(this.order);
  }

  /** arm_smmu_get_cd_ptr: the CD's address, or -1 when its L2 table does not exist. */
  cdAddr(ssid: number): number {
    if (this.s1fmt === STE_S1FMT_LINEAR) return this.basePfn * 4096 + ssid * CD_SIZE;
    const pfn = this.l2.get(Math.floor(ssid / CTXDESC_L2_ENTRIES));
    return pfn === undefined ? -1 : pfn * 4096 + (ssid % CTXDESC_L2_ENTRIES) * CD_SIZE;
  }

  /** arm_smmu_alloc_cd_ptr: allocates the L2 table on first use and syncs the (possibly cached) invalid L1CD. */
  allocCdAddr(ssid: number): number {
    if (this.s1fmt !== STE_S1FMT_LINEAR) {
      const idx = Math.floor(ssid / CTXDESC_L2_ENTRIES);
      if (!this.l2.has(idx)) {
        const smmu = this.master.smmu;
        const pfn = smmu.frames.alloc(4);
        this.l2.set(idx, pfn);
        smmu.mem.setU64(this.basePfn * 4096 + idx * 8, L1Cd.encode({ v: 1, l2ptr: BigInt(pfn * 4096) })[0]!);
        smmu.issue([cmdCfgiCd(this.master.sid, ssid, false)]);
      }
    }
    return this.cdAddr(ssid);
  }

  /** arm_smmu_free_cd_tables */
  free(): void {
    const frames = this.master.smmu.frames;
    for (const pfn of this.l2.values()) freeBlock(frames, pfn, 4);
    this.l2.clear();
    freeBlock(frames, this.basePfn, this.order);
  }
}

function freeBlock(frames: { put(pfn: number): void }, pfn: number, order: number): void {
  for (let i = 0; i < 2 ** order; i++) frames.put(pfn + i);
}

/** arm_smmu_write_cd_entry: counts SSIDs in use, then updates hitlessly with CFGI_CD + CMD_SYNC between steps. */
export function writeCdEntry(master: SmmuMaster, ssid: number, addr: number, target: readonly bigint[]): void {
  const table = master.cdTable!;
  const mem = master.smmu.mem;
  const V = 1n << 31n;
  const targetValid = (target[0]! & V) !== 0n;
  const curValid = (mem.u64(addr) & V) !== 0n;
  if (ssid !== 0 && curValid !== targetValid) table.usedSsids += curValid ? -1 : 1;
  writeEntry(mem, addr, target, { getUsed: cdUsed, sync: () => master.smmu.issue([cmdCfgiCd(master.sid, ssid, true)]) });
}

/** arm_smmu_make_s1_cd: a CD for a stage-1 paging domain with the io-pgtable's TCR, TTB0 and MAIR. */
export function makeS1Cd(master: SmmuMaster, pgtbl: IoPgtableArm, asid: number): bigint[] {
  const t = pgtbl.s1Tcr();
  return Cd.encode({
    t0sz: t.tsz,
    tg0: t.tg,
    ir0: t.irgn,
    or0: t.orgn,
    sh0: t.sh,
    epd1: 1,
    v: 1,
    ips: t.ips,
    aa64: 1,
    s: master.stallEnabled ? 1 : 0,
    r: 1,
    a: 1,
    aset: 1,
    asid,
    ha: pgtbl.quirkHd ? 1 : 0,
    hd: pgtbl.quirkHd ? 1 : 0,
    ttb0: BigInt(pgtbl.rootPfn * 4096),
    mair: t.mair,
  });
}

/** arm_smmu_clear_cd */
export function clearCd(master: SmmuMaster, ssid: number): void {
  const table = master.cdTable;
  if (!table) return;
  const addr = table.cdAddr(ssid);
  if (addr < 0) return;
  writeCdEntry(master, ssid, addr, new Array<bigint>(8).fill(0n));
}

