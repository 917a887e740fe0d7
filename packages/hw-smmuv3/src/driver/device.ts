// One SMMU as the driver sees it (struct arm_smmu_device): features, queues, stream table, reset and interrupts.
import type { FrameAllocator, PhysMem } from '@iommu-lab/platform';
import { QueueBase } from '../format/queue.js';
import {
  Cr1,
  Cr2,
  CR0_ATSCHK,
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_PRIQEN,
  CR0_SMMUEN,
  GBPA_ABORT,
  GBPA_UPDATE,
  GERROR_CMDQ_ERR,
  GERROR_ERR_MASK,
  IRQ_CTRL_EVTQ_IRQEN,
  IRQ_CTRL_GERROR_IRQEN,
  IRQ_CTRL_PRIQ_IRQEN,
  SMMU_REG,
} from '../format/registers.js';
import { StrtabBase } from '../format/strtab.js';
import type { SmmuMmio } from '../hw/smmu.js';
import { cmdCfgiAll, cmdTlbi, type SmmuCmd } from './cmds.js';
import { CMDQ_BATCH_ENTRIES, DriverCmdq } from './cmdq.js';
import { probeFeatures, type SmmuFeatures } from './features.js';
import { IdAllocator } from './ids.js';
import type { SmmuMaster } from './master.js';
import { SmmuPriq } from './priq.js';
import { StreamTable } from './strtab.js';

export interface SmmuDeviceOptions {
  /** Firmware's coherency flag (IORT/DT dma-coherent); the driver trusts it over IDR0.COHACC. */
  coherent?: boolean;
  /** IOMMU_FWSPEC_PCI_RC_CANWBS: the root complex forces write-back cacheable, even for No-Snoop. */
  canwbs?: boolean;
  /** IOMMU_FWSPEC_PCI_RC_ATS: the root complex supports ATS. */
  rcAts?: boolean;
}

export class ArmSmmuDevice {
  readonly features: SmmuFeatures;
  readonly strtab: StreamTable;
  readonly cmdq: DriverCmdq;
  readonly evtqBase: number;
  readonly evtqLog2: number;
  /** The PRI queue, with IDR0.PRI. */
  readonly priq: SmmuPriq | null;
  readonly canwbs: boolean;
  readonly rcAts: boolean;
  readonly asids: IdAllocator;
  readonly vmids: IdAllocator;
  /** Masters by StreamID (smmu->streams). */
  readonly streams = new Map<number, SmmuMaster>();
  /** What the event handler saw, newest last (dmesg). */
  readonly log: string[] = [];

  constructor(
    readonly mmio: SmmuMmio,
    readonly mem: PhysMem,
    readonly frames: FrameAllocator,
    opts: SmmuDeviceOptions = {},
  ) {
    const idr = [0, 1, 2, 3, 4, 5].map((i) => mmio.read32(SMMU_REG.IDR0 + 4 * i));
    const coherent = opts.coherent ?? (idr[0]! & (1 << 4)) !== 0;
    this.features = probeFeatures(idr, mmio.read32(SMMU_REG.IIDR), coherent);
    this.canwbs = opts.canwbs ?? true;
    this.rcAts = opts.rcAts ?? true;
    const f = this.features;
    this.asids = new IdAllocator('ASID', 1, 2 ** f.asidBits - 1);
    this.vmids = new IdAllocator('VMID', 1, 2 ** f.vmidBits - 1);
    // arm_smmu_init_queues: 16-byte commands, 32-byte events, naturally aligned
    const cmdqPfn = frames.alloc(Math.max(0, f.cmdqShift + 4 - 12));
    this.cmdq = new DriverCmdq(mmio, mem, cmdqPfn * 4096, f.cmdqShift, f.msipoll);
    this.evtqLog2 = f.evtqShift;
    this.evtqBase = frames.alloc(Math.max(0, f.evtqShift + 5 - 12)) * 4096;
    this.priq = f.pri ? new SmmuPriq(mmio, mem, frames, f.priqShift) : null;
    this.strtab = new StreamTable(mem, frames, f.sidBits, f.twoLvlStrtab);
    this.reset();
  }

  /** arm_smmu_cmdq_batch: full batches of CMDQ_BATCH_ENTRIES go out as they fill, the last one with a CMD_SYNC. */
  issue(cmds: readonly SmmuCmd[], sync = true): void {
    if (cmds.length === 0) return;
    for (let i = 0; i < cmds.length; i += CMDQ_BATCH_ENTRIES) {
      const last = i + CMDQ_BATCH_ENTRIES >= cmds.length;
      this.cmdq.issue(cmds.slice(i, i + CMDQ_BATCH_ENTRIES), last && sync);
    }
  }

  /** arm_smmu_device_reset: program the tables and queues, invalidate, then enable piece by piece. */
  private reset(): void {
    const m = this.mmio;
    const f = this.features;
    if (m.read32(SMMU_REG.CR0) & CR0_SMMUEN) this.updateGbpa(GBPA_ABORT, 0);
    this.writeCr0(0);
    m.write32(SMMU_REG.CR1, Cr1.encode({ tableSh: 3, tableOc: 1, tableIc: 1, queueSh: 3, queueOc: 1, queueIc: 1 }));
    m.write32(SMMU_REG.CR2, Cr2.encode({ ptm: 1, recinvsid: 1 }));
    m.write64(SMMU_REG.STRTAB_BASE, StrtabBase.encode({ addr: BigInt(this.strtab.basePfn * 4096), ra: 1 })[0]!);
    m.write32(SMMU_REG.STRTAB_BASE_CFG, this.strtab.baseCfg);
    m.write64(SMMU_REG.CMDQ_BASE, QueueBase.encode({ rwa: 1, addr: BigInt(this.cmdq.base), log2size: this.cmdq.log2 })[0]!);
    m.write32(SMMU_REG.CMDQ_PROD, 0);
    m.write32(SMMU_REG.CMDQ_CONS, 0);
    let enables = CR0_CMDQEN;
    this.writeCr0(enables);
    this.issue([cmdCfgiAll()]);
    this.issue([cmdTlbi('TLBI_NSNH_ALL', 0, 0)]);
    m.write64(SMMU_REG.EVENTQ_BASE, QueueBase.encode({ rwa: 1, addr: BigInt(this.evtqBase), log2size: this.evtqLog2 })[0]!);
    m.write32(SMMU_REG.EVENTQ_PROD, 0);
    m.write32(SMMU_REG.EVENTQ_CONS, 0);
    enables |= CR0_EVTQEN;
    this.writeCr0(enables);
    if (this.priq) {
      m.write64(SMMU_REG.PRIQ_BASE, QueueBase.encode({ rwa: 1, addr: BigInt(this.priq.base), log2size: this.priq.log2 })[0]!);
      m.write32(SMMU_REG.PRIQ_PROD, 0);
      m.write32(SMMU_REG.PRIQ_CONS, 0);
      enables |= CR0_PRIQEN;
      this.writeCr0(enables);
    }
    if (f.ats) {
      enables |= CR0_ATSCHK;
      this.writeCr0(enables);
    }
    m.setIrqHandler('gerror', () => this.gerrorHandler());
    if (this.priq) m.setIrqHandler('priq', () => this.priq!.thread(this));
    m.write32(SMMU_REG.IRQ_CTRL, IRQ_CTRL_GERROR_IRQEN | IRQ_CTRL_EVTQ_IRQEN | (f.pri ? IRQ_CTRL_PRIQ_IRQEN : 0));
    // disable_bypass: traffic of unconfigured streams aborts while the SMMU is off
    this.updateGbpa(GBPA_ABORT, 0);
    enables |= CR0_SMMUEN;
    this.writeCr0(enables);
  }

  /** arm_smmu_write_reg_sync on CR0/CR0ACK. */
  private writeCr0(v: number): void {
    this.mmio.write32(SMMU_REG.CR0, v);
    if (this.mmio.read32(SMMU_REG.CR0ACK) !== v) throw new Error('arm-smmu-v3: CR0ACK timeout');
  }

  /** arm_smmu_update_gbpa */
  private updateGbpa(set: number, clr: number): void {
    const reg = (this.mmio.read32(SMMU_REG.GBPA) & ~clr) | set;
    this.mmio.write32(SMMU_REG.GBPA, (reg | GBPA_UPDATE) >>> 0);
  }

  /** arm_smmu_gerror_handler: report active errors, skip an illegal command, acknowledge. */
  private gerrorHandler(): void {
    const gerror = this.mmio.read32(SMMU_REG.GERROR);
    const active = gerror ^ this.mmio.read32(SMMU_REG.GERRORN);
    if ((active & GERROR_ERR_MASK) === 0) return;
    this.log.push(`unexpected global error reported (0x${active.toString(16).padStart(8, '0')}), this could be serious`);
    if (active & GERROR_CMDQ_ERR) this.cmdq.skipErr();
    this.mmio.write32(SMMU_REG.GERRORN, gerror);
  }
}
