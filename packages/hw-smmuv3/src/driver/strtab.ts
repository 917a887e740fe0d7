// The stream table in memory (arm_smmu_init_strtab*, arm_smmu_init_l2_strtab): linear, or 2-level with lazy L2 tables.
import type { FrameAllocator, PhysMem } from '@iommu-lab/platform';
import { ErrnoError } from '@iommu-lab/platform';
import { L1Std, STE_SIZE, StrtabBaseCfg, STRTAB_FMT_2LVL, STRTAB_FMT_LINEAR, STRTAB_SPLIT } from '../format/strtab.js';
import { Ste, STE_CFG_ABORT } from '../format/ste.js';

/** STRTAB_MAX_L1_ENTRIES: the L1 table covers at most 2^17 buses of 256 StreamIDs. */
const MAX_L1_ENTRIES = 2 ** 17;
const L2_STES = 2 ** STRTAB_SPLIT;

function orderFor(bytes: number): number {
  return Math.max(0, Math.ceil(Math.log2(bytes / 4096)));
}

export class StreamTable {
  readonly twoLevel: boolean;
  /** Linear table, or the L1 table of a 2-level one (page number). */
  readonly basePfn: number;
  readonly numEnts: number;
  private readonly l2 = new Map<number, number>();
  private readonly order: number;

  constructor(
    private readonly mem: PhysMem,
    private readonly frames: FrameAllocator,
    readonly sidBits: number,
    twoLevel: boolean,
  ) {
    this.twoLevel = twoLevel;
    if (twoLevel) {
      const lastL1 = Math.floor((2 ** sidBits - 1) / L2_STES);
      this.numEnts = Math.min(lastL1 + 1, MAX_L1_ENTRIES);
      this.order = orderFor(this.numEnts * 8);
      this.basePfn = frames.alloc(this.order);
    } else {
      this.numEnts = 2 ** sidBits;
      this.order = orderFor(this.numEnts * STE_SIZE);
      this.basePfn = frames.alloc(this.order);
      initAbortStes(mem, this.basePfn * 4096, this.numEnts);
    }
  }

  /** STRTAB_BASE_CFG as arm_smmu_write_strtab programs it. */
  get baseCfg(): number {
    return this.twoLevel
      ? StrtabBaseCfg.encode({ fmt: STRTAB_FMT_2LVL, log2size: Math.log2(this.numEnts) + STRTAB_SPLIT, split: STRTAB_SPLIT })
      : StrtabBaseCfg.encode({ fmt: STRTAB_FMT_LINEAR, log2size: this.sidBits });
  }

  /** arm_smmu_sid_in_range */
  inRange(sid: number): boolean {
    return this.twoLevel ? Math.floor(sid / L2_STES) < this.numEnts : sid < this.numEnts;
  }

  /** arm_smmu_init_sid_strtab: the L2 table of a 2-level StreamID exists (abort STEs) once a master uses it. */
  initSid(sid: number): void {
    if (!this.inRange(sid)) throw new ErrnoError('ERANGE', 'arm-smmu-v3', `StreamID 0x${sid.toString(16)} beyond the stream table`);
    if (!this.twoLevel) return;
    const idx = Math.floor(sid / L2_STES);
    if (this.l2.has(idx)) return;
    const pfn = this.frames.alloc(orderFor(L2_STES * STE_SIZE));
    initAbortStes(this.mem, pfn * 4096, L2_STES);
    this.l2.set(idx, pfn);
    this.mem.setU64(this.basePfn * 4096 + idx * 8, L1Std.encode({ span: STRTAB_SPLIT + 1, l2ptr: BigInt(pfn * 4096) })[0]!);
  }

  /** arm_smmu_get_step_for_sid: the address of a StreamID's STE. */
  steAddr(sid: number): number {
    if (!this.twoLevel) return this.basePfn * 4096 + sid * STE_SIZE;
    const pfn = this.l2.get(Math.floor(sid / L2_STES));
    if (pfn === undefined) throw new Error(`arm-smmu-v3: no L2 stream table for SID 0x${sid.toString(16)}`);
    return pfn * 4096 + (sid % L2_STES) * STE_SIZE;
  }
}

/** arm_smmu_init_initial_stes: every STE aborts until a domain is attached. */
function initAbortStes(mem: PhysMem, addr: number, n: number): void {
  const [d0] = Ste.encode({ v: 1, config: STE_CFG_ABORT });
  for (let i = 0; i < n; i++) mem.setU64(addr + i * STE_SIZE, d0!);
}
