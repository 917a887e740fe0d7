// The guest's stream table (Linux arm_smmu_init_strtab_linear / _2lvl, arm_smmu_init_l2_strtab): linear, or a
// level-1 table of descriptors pointing at 256-STE level-2 tables allocated per bus as devices appear.
import { STRTAB_FMT_2LVL, STRTAB_FMT_LINEAR, STRTAB_SPLIT } from '@iommu-lab/hw-smmuv3/format';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import { makeAbortSte } from './ste.js';

/** STRTAB_MAX_L1_ENTRIES and STRTAB_BASE_RA (bit 62). */
const STRTAB_MAX_L1_ENTRIES = 2 ** 17;
const STRTAB_BASE_RA = 1n << 62n;
const STE_SIZE = 64;

export class GuestStrtab {
  /** The linear table or the level-1 table. */
  readonly gpa: number;
  readonly numL1: number;
  private readonly l2 = new Map<number, number>();

  constructor(
    private readonly ram: GuestRam,
    private readonly pages: GuestPageAllocator,
    readonly sidBits: number,
    readonly twoLevel: boolean,
  ) {
    if (twoLevel) {
      this.numL1 = Math.min(Math.floor((2 ** sidBits - 1) / 2 ** STRTAB_SPLIT) + 1, STRTAB_MAX_L1_ENTRIES);
      this.gpa = pages.alloc(Math.ceil((this.numL1 * 8) / 4096));
    } else {
      this.numL1 = 0;
      const bytes = 2 ** sidBits * STE_SIZE;
      this.gpa = pages.alloc(Math.ceil(bytes / 4096));
      this.initStes(this.gpa, 2 ** sidBits);
    }
  }

  /** arm_smmu_init_initial_stes: abort STEs, written directly (the table is not live yet). */
  private initStes(gpa: number, n: number): void {
    const abort = makeAbortSte();
    for (let i = 0; i < n; i++) this.ram.setU64(gpa + i * STE_SIZE, abort[0]!);
  }

  /** STRTAB_BASE: ADDR | RA. */
  base(): bigint {
    return BigInt(this.gpa) | STRTAB_BASE_RA;
  }

  /** STRTAB_BASE_CFG: FMT, LOG2SIZE, SPLIT (arm_smmu_write_strtab). */
  baseCfg(): number {
    if (!this.twoLevel) return (STRTAB_FMT_LINEAR << 16) | this.sidBits;
    return (STRTAB_FMT_2LVL << 16) | ((Math.log2(this.numL1) + STRTAB_SPLIT) & 0x3f) | (STRTAB_SPLIT << 6);
  }

  /** arm_smmu_init_sid_strtab: the level-2 table of the StreamID's bus, with its level-1 descriptor (SPAN 9). */
  initSid(sid: number): void {
    if (!this.twoLevel) return;
    const idx = Math.floor(sid / 2 ** STRTAB_SPLIT);
    if (this.l2.has(idx)) return;
    const n = 2 ** STRTAB_SPLIT;
    const l2 = this.pages.alloc((n * STE_SIZE) / 4096);
    this.initStes(l2, n);
    this.l2.set(idx, l2);
    this.ram.setU64(this.gpa + idx * 8, BigInt(l2) | BigInt(STRTAB_SPLIT + 1));
  }

  /** arm_smmu_get_step_for_sid: the GPA of the StreamID's STE. */
  stePtr(sid: number): number {
    if (!this.twoLevel) return this.gpa + sid * STE_SIZE;
    const l2 = this.l2.get(Math.floor(sid / 2 ** STRTAB_SPLIT));
    if (l2 === undefined) throw new RangeError(`no level-2 stream table for sid 0x${sid.toString(16)}`);
    return l2 + (sid % 2 ** STRTAB_SPLIT) * STE_SIZE;
  }
}
