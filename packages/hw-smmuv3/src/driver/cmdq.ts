// Command submission (arm_smmu_cmdq_issue_cmdlist): entries at PROD, a CMD_SYNC, wait for completion; CERROR recovery.
import type { PhysMem } from '@iommu-lab/platform';
import { ErrnoError } from '@iommu-lab/platform';
import { CMD_SYNC_CS_IRQ } from '../format/cmd.js';
import { CERROR_ILL, CERROR_NAMES, CMDQ_ENT_SIZE, queueIdx, queueInc, queuePos, queueUsed } from '../format/queue.js';
import { SMMU_REG } from '../format/registers.js';
import type { SmmuMmio } from '../hw/smmu.js';
import { cmdSync, cmdSyncSev, type SmmuCmd } from './cmds.js';

/** CMDQ_BATCH_ENTRIES (BITS_PER_LONG): commands per batch before a CMD_SYNC. */
export const CMDQ_BATCH_ENTRIES = 64;

export interface CmdqLogEntry {
  readonly cons: number;
  readonly error: string;
  readonly cmd: SmmuCmd;
}

/** The command queue as the driver owns it: memory at `base`, 2^log2 entries, a shadow PROD. */
export class DriverCmdq {
  private prod = 0;
  /** Commands the SMMU refused (CERROR) and the driver skipped, as dmesg would show them. */
  readonly errors: CmdqLogEntry[] = [];
  issued = 0;

  constructor(
    private readonly mmio: SmmuMmio,
    private readonly mem: PhysMem,
    readonly base: number,
    readonly log2: number,
    /** ARM_SMMU_OPT_MSIPOLL: CMD_SYNC writes 0 over its own first word; otherwise CS=SEV and poll CONS. */
    private readonly msipoll: boolean,
  ) {}

  /** Writes cmds (and a CMD_SYNC when sync) at PROD, publishes them and, with sync, waits for completion. */
  issue(cmds: readonly SmmuCmd[], sync: boolean): void {
    const n = cmds.length + (sync ? 1 : 0);
    if (n === 0) return;
    const size = 2 ** this.log2;
    const cons = this.mmio.read32(SMMU_REG.CMDQ_CONS);
    if (n > size - queueUsed(this.prod, cons, this.log2)) throw new ErrnoError('ETIMEDOUT', 'arm-smmu-v3', 'CMDQ timeout: the queue is not being consumed');
    for (const c of cmds) this.write(c);
    let syncAt = -1;
    if (sync) {
      syncAt = this.base + queueIdx(this.prod, this.log2) * CMDQ_ENT_SIZE;
      this.write(this.msipoll ? cmdSync(CMD_SYNC_CS_IRQ, BigInt(syncAt)) : cmdSyncSev());
    }
    this.issued += cmds.length;
    this.mmio.write32(SMMU_REG.CMDQ_PROD, this.prod);
    if (sync && !this.synced(syncAt)) {
      throw new ErrnoError('ETIMEDOUT', 'arm-smmu-v3', `CMD_SYNC timeout at 0x${this.prod.toString(16)} [hwcons 0x${this.mmio.read32(SMMU_REG.CMDQ_CONS).toString(16)}]`);
    }
  }

  /**
   * __arm_smmu_cmdq_skip_err, run from the GERROR handler: an illegal command is overwritten by a
   * CMD_SYNC so that the queue can go on once GERRORN acknowledges the error.
   */
  skipErr(): void {
    const cons = this.mmio.read32(SMMU_REG.CMDQ_CONS);
    const err = (cons >>> 24) & 0x7f;
    if (err !== CERROR_ILL) return;
    const at = this.base + queueIdx(cons, this.log2) * CMDQ_ENT_SIZE;
    this.errors.push({ cons, error: CERROR_NAMES[err] ?? `CERROR_${err}`, cmd: [this.mem.u64(at), this.mem.u64(at + 8)] });
    const [d0, d1] = cmdSyncSev();
    this.mem.setU64(at, d0);
    this.mem.setU64(at + 8, d1);
  }

  private write(c: SmmuCmd): void {
    const at = this.base + queueIdx(this.prod, this.log2) * CMDQ_ENT_SIZE;
    this.mem.setU64(at, c[0]);
    this.mem.setU64(at + 8, c[1]);
    this.prod = queueInc(this.prod, this.log2);
  }

  /** MSI polling reads the sync's first word (0 once written); otherwise CONS must have passed PROD. */
  private synced(syncAt: number): boolean {
    if (this.msipoll) return this.mem.u32(syncAt) === 0;
    return queuePos(this.mmio.read32(SMMU_REG.CMDQ_CONS), this.log2) === queuePos(this.prod, this.log2);
  }
}
