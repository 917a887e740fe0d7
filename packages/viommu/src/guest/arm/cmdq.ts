// The guest's command queue (Linux __arm_smmu_cmdq_issue_cmdlist, one CPU): commands written into the ring in
// guest RAM, one CMDQ_PROD write (the VM exit), then the CMD_SYNC is awaited by polling its own slot for the
// MSI write (MSIPOLL) or, without MSIs, by reading CMDQ_CONS.
import { CMD_SYNC_CS_IRQ, CMD_SYNC_CS_SEV, Q_OVERFLOW_FLAG as OVF, SMMU_REG } from '@iommu-lab/hw-smmuv3/format';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { GuestMmio } from '../mmio-regs.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import type { CmdBatch } from './cmds.js';

/** Q_MAX_SZ_SHIFT with CONFIG_CMA_ALIGNMENT = 8 and 4 KiB pages: a queue is at most 1 MiB. */
export const Q_MAX_SZ_SHIFT = 12 + 8;
/** Q_BASE_RWA: read/write-allocate hint in the BASE registers (bit 62). */
export const Q_BASE_RWA_HI = 1 << 30;
/** Polls before a wait counts as a timeout (the hardware model answers inside the exit, so one is enough). */
const POLL_LIMIT = 16;

/** A queue in guest RAM and its shadow PROD/CONS (struct arm_smmu_ll_queue). */
export class GuestQueue {
  readonly gpa: number;
  prod = 0;
  cons = 0;

  constructor(
    pages: GuestPageAllocator,
    /** max_n_shift: log2 of the entries. */
    readonly shift: number,
    readonly entBytes: number,
  ) {
    this.gpa = pages.alloc(Math.max(1, (2 ** shift * entBytes) / 4096), Math.max(1, (2 ** shift * entBytes) / 4096));
  }

  /** The BASE register: ADDR | LOG2SIZE | RWA (arm_smmu_init_one_queue). */
  base(): bigint {
    return (BigInt(Q_BASE_RWA_HI) << 32n) | BigInt(this.gpa) | BigInt(this.shift);
  }

  idx(p: number): number {
    return p & (2 ** this.shift - 1);
  }

  wrp(p: number): number {
    return p & 2 ** this.shift;
  }

  /** queue_inc_prod_n: index and wrap advance by n; OVF (bit 31) is kept. */
  inc(p: number, n: number): number {
    const next = ((this.wrp(p) | this.idx(p)) + n) & (2 ** (this.shift + 1) - 1);
    return ((p & OVF) | next) >>> 0;
  }

  /** queue_sync_cons_ovf: CONS.OVACKFLG takes PROD.OVFLG once caught up; true when CONS changed. */
  syncConsOvf(): boolean {
    if ((this.prod & OVF) === (this.cons & OVF)) return false;
    this.cons = ((this.prod & OVF) | (this.cons & ~OVF)) >>> 0;
    return true;
  }

  entry(p: number): number {
    return this.gpa + this.idx(p) * this.entBytes;
  }

  empty(): boolean {
    return this.idx(this.prod) === this.idx(this.cons) && this.wrp(this.prod) === this.wrp(this.cons);
  }

  /** queue_has_space. */
  hasSpace(n: number): boolean {
    const space = this.wrp(this.prod) === this.wrp(this.cons) ? 2 ** this.shift - (this.idx(this.prod) - this.idx(this.cons)) : this.idx(this.cons) - this.idx(this.prod);
    return space >= n;
  }

  /** queue_consumed: CONS has passed `prod`. */
  consumed(prod: number): boolean {
    const c = this.cons;
    return (this.wrp(c) === this.wrp(prod) && this.idx(c) > this.idx(prod)) || (this.wrp(c) !== this.wrp(prod) && this.idx(c) <= this.idx(prod));
  }
}

export class GuestCmdq {
  readonly q: GuestQueue;
  /** Submissions and commands written (including the CMD_SYNCs), and syncs that timed out. */
  submissions = 0;
  commands = 0;
  timeouts = 0;
  /** What the kernel would print. */
  readonly messages: string[] = [];

  constructor(
    private readonly ram: GuestRam,
    private readonly regs: GuestMmio,
    pages: GuestPageAllocator,
    shift: number,
    /** ARM_SMMU_OPT_MSIPOLL: coherent and IDR0.MSI. */
    private readonly msiPoll: boolean,
  ) {
    this.q = new GuestQueue(pages, shift, 16);
  }

  /** arm_smmu_cmdq_issue_cmdlist: the batch, plus a CMD_SYNC when `sync`, in one PROD write; then the wait. */
  issue(b: CmdBatch, sync: boolean): void {
    const n = b.num;
    const q = this.q;
    // The shadow CONS is refreshed from the register only when the queue looks full.
    for (let i = 0; !q.hasSpace(n + (sync ? 1 : 0)); i++) {
      if (i === POLL_LIMIT) throw new Error('arm-smmu-v3: CMDQ timeout');
      q.cons = this.regs.readl(SMMU_REG.CMDQ_CONS);
    }
    const start = q.prod;
    for (let i = 0; i < n; i++) this.writeEntry(q.inc(start, i), b.words, 4 * i);
    const syncProd = q.inc(start, n);
    if (sync) {
      b.sync(this.msiPoll ? CMD_SYNC_CS_IRQ : CMD_SYNC_CS_SEV, this.msiPoll ? q.entry(syncProd) : 0);
      this.writeEntry(syncProd, b.words, 4 * n);
    }
    b.num = 0;
    q.prod = q.inc(start, n + (sync ? 1 : 0));
    this.submissions++;
    this.commands += n + (sync ? 1 : 0);
    this.regs.writel(SMMU_REG.CMDQ_PROD, q.prod);
    if (sync) this.waitSync(syncProd);
  }

  private writeEntry(p: number, w: Uint32Array, o: number): void {
    const gpa = this.q.entry(p);
    this.ram.write64(gpa, w[o]!, w[o + 1]!);
    this.ram.write64(gpa + 8, w[o + 2]!, w[o + 3]!);
  }

  /** arm_smmu_cmdq_poll_until_sync: the MSI zeroes the sync's first word, or CONS passes it. */
  private waitSync(syncProd: number): void {
    const q = this.q;
    if (this.msiPoll) {
      for (let i = 0; i < POLL_LIMIT; i++) {
        if (this.ram.u32(q.entry(syncProd)) === 0) {
          q.cons = q.inc(syncProd, 1);
          return;
        }
      }
    } else {
      for (let i = 0; i < POLL_LIMIT; i++) {
        if (q.consumed(syncProd)) return;
        q.cons = this.regs.readl(SMMU_REG.CMDQ_CONS);
      }
    }
    // "CMD_SYNC timeout": the unit stopped (a command error it could not get past).
    this.timeouts++;
    this.messages.push(`CMD_SYNC timeout at 0x${syncProd.toString(16).padStart(8, '0')}`);
    q.cons = q.prod;
  }
}
