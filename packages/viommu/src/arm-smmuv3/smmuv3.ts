// The emulated arm-smmuv3 (hw/arm/smmuv3.c): a register file whose accesses are VM exits, the command queue
// consumed on the CMDQ_PROD write exit, the event queue, GERROR and the wired interrupts; with accel=on the
// host SMMUv3 nests the guest's stage 1 (accel.ts).
import { CR0_CMDQEN, CR0_EVTQEN, CR0_PRIQEN, CR0_SMMUEN, GBPA_UPDATE, GERROR_CMDQ_ERR, IRQ_CTRL_EVTQ_IRQEN, IRQ_CTRL_GERROR_IRQEN, IRQ_CTRL_PRIQ_IRQEN, SMMU_REG, SMMU_REG_SPACE } from '@iommu-lab/hw-smmuv3/format';
import type { Tracepoint } from '@iommu-lab/platform';
import type { QemuDriverOpts } from '../qemu/options.js';
import type { MmioRegion } from '../vm/mmio.js';
import type { HostIommuDevice, VirtualIommu } from '../vm/viommu-model.js';
import type { Vm } from '../vm/vm.js';
import { SmmuV3Accel } from './accel.js';
import { smmuV3CmdqConsume } from './cmdq.js';
import { smmuV3Config, type SmmuV3Config } from './config.js';
import { smmuV3IdRegs, type SmmuV3IdRegs, SMMU_CMDQS, SMMU_EVENTQS, SMMU_PRIQS } from './idr.js';
import { SmmuV3Pri } from './pri.js';
import { SmmuV3Queue } from './queue.js';
import { SMMU_CR0_RESERVED, SMMU_GBPA_RESET_VAL, SMMU_IRQ, smmuRegName, VIRT_SMMU_BASE } from './regs.js';
import type { StrtabRegs } from './ste.js';

export type SmmuIrq = 'evtq' | 'priq' | 'cmd-sync' | 'gerror';

export class ArmSmmuV3Device implements VirtualIommu, MmioRegion, StrtabRegs {
  readonly name = 'arm-smmuv3';
  readonly base = VIRT_SMMU_BASE;
  readonly size = SMMU_REG_SPACE;
  readonly wantNestingParent: boolean;
  readonly cfg: SmmuV3Config;
  readonly id: SmmuV3IdRegs;
  readonly accel: SmmuV3Accel | null;
  cr0 = 0;
  cr0ack = 0;
  cr1 = 0;
  cr2 = 0;
  gbpa = SMMU_GBPA_RESET_VAL;
  irqCtrl = 0;
  gerror = 0;
  gerrorn = 0;
  /** GERROR_IRQ_CFG0 (lo, hi), CFG1, CFG2 and the same for the event queue: stored, interrupts are wired. */
  readonly gerrorIrqCfg = new Uint32Array(4);
  readonly eventqIrqCfg = new Uint32Array(4);
  readonly priqIrqCfg = new Uint32Array(4);
  strtabBaseLo = 0;
  strtabBaseHi = 0;
  strtabBaseCfg = 0;
  readonly cmdq = new SmmuV3Queue(16, SMMU_CMDQS);
  readonly eventq = new SmmuV3Queue(32, SMMU_EVENTQS);
  /** The PRI queue: registers only with pri=on (IDR0.PRI). */
  readonly priq = new SmmuV3Queue(16, SMMU_PRIQS);
  readonly pri: SmmuV3Pri | null;
  /** What QEMU reports with error_report (the guest is not told). */
  readonly errors: string[] = [];
  readonly tp: { cmd: Tracepoint; ste: Tracepoint; event: Tracepoint; pri: Tracepoint };

  constructor(
    readonly vm: Vm,
    opts: QemuDriverOpts,
  ) {
    this.cfg = smmuV3Config(opts);
    this.id = smmuV3IdRegs(this.cfg);
    this.wantNestingParent = this.cfg.accel;
    const t = vm.host.trace;
    this.tp = { cmd: t.point('smmuv3_cmdq_opcode', 'viommu'), ste: t.point('smmuv3_accel_install_ste', 'viommu'), event: t.point('smmuv3_propagate_event', 'viommu'), pri: t.point('smmuv3_propagate_pri', 'viommu') };
    this.pri = this.cfg.pri ? new SmmuV3Pri(this) : null;
    this.accel = this.cfg.accel ? new SmmuV3Accel(this) : null;
    vm.mmio.add(this);
  }

  /** smmuv3_accel_set_iommu_device; without accel, QEMU's vfio-pci setup fails on the MAP notifier. */
  setIommuDevice(hiod: HostIommuDevice): void {
    if (!this.accel) {
      const bdf = `00.${(hiod.guestRid >>> 3).toString(16).padStart(2, '0')}.${hiod.guestRid & 7}`;
      throw new Error(
        `device ${bdf} requires iommu MAP notifier which is not currently supported (an arm-smmuv3 without accel=on emulates stage 1 for emulated devices only: it has no caching mode to shadow a vfio-pci device's mappings; use accel=on)`,
      );
    }
    this.accel.setIommuDevice(hiod);
  }

  regName(offset: number): string | undefined {
    return smmuRegName(offset);
  }

  enabled(): boolean {
    return (this.cr0 & CR0_SMMUEN) !== 0;
  }

  cmdqEnabled(): boolean {
    return (this.cr0 & CR0_CMDQEN) !== 0;
  }

  eventqEnabled(): boolean {
    return (this.cr0 & CR0_EVTQEN) !== 0;
  }

  priqEnabled(): boolean {
    return this.pri !== null && (this.cr0 & CR0_PRIQEN) !== 0;
  }

  /** smmuv3_trigger_irq: GERROR toggles only errors not already pending; the lines pulse when enabled. */
  triggerIrq(irq: SmmuIrq, gerrorMask = 0): void {
    let pulse: boolean;
    if (irq === 'evtq') pulse = (this.irqCtrl & IRQ_CTRL_EVTQ_IRQEN) !== 0;
    else if (irq === 'priq') pulse = (this.irqCtrl & IRQ_CTRL_PRIQ_IRQEN) !== 0;
    else if (irq === 'cmd-sync') pulse = true;
    else {
      const fresh = ~(this.gerror ^ this.gerrorn) & gerrorMask;
      if (!fresh) return;
      this.gerror = (this.gerror ^ fresh) >>> 0;
      pulse = (this.irqCtrl & IRQ_CTRL_GERROR_IRQEN) !== 0;
    }
    if (pulse) this.vm.raiseIrq(irq === 'evtq' ? SMMU_IRQ.EVTQ : irq === 'priq' ? SMMU_IRQ.PRIQ : irq === 'cmd-sync' ? SMMU_IRQ.CMD_SYNC : SMMU_IRQ.GERROR);
  }

  /** smmu_write_cmdq_err: CMDQ_CONS.ERR [30:24]. */
  cmdqError(err: number): void {
    this.cmdq.cons = ((this.cmdq.cons & ~(0x7f << 24)) | (err << 24)) >>> 0;
    this.triggerIrq('gerror', GERROR_CMDQ_ERR);
  }

  /** smmu_read_mmio; page 1 aliases page 0. */
  read(offset: number, size: 4 | 8): bigint {
    const off = offset % 0x10000;
    if (size === 8) return BigInt(this.readl(off)) | (BigInt(this.readl(off + 4)) << 32n);
    return BigInt(this.readl(off));
  }

  private readl(off: number): number {
    const R = SMMU_REG;
    if (off >= R.IDR0 && off <= R.IDR5) return this.id.idr[(off - R.IDR0) / 4]!;
    switch (off) {
      case R.IIDR:
        return this.id.iidr;
      case R.AIDR:
        return this.id.aidr;
      case R.CR0:
        return this.cr0;
      case R.CR0ACK:
        return this.cr0ack;
      case R.CR1:
        return this.cr1;
      case R.CR2:
        return this.cr2;
      case R.GBPA:
        return this.gbpa;
      case R.IRQ_CTRL:
      case R.IRQ_CTRLACK:
        return this.irqCtrl;
      case R.GERROR:
        return this.gerror;
      case R.GERRORN:
        return this.gerrorn;
      case R.STRTAB_BASE:
        return this.strtabBaseLo;
      case R.STRTAB_BASE + 4:
        return this.strtabBaseHi;
      case R.STRTAB_BASE_CFG:
        return this.strtabBaseCfg;
      case R.CMDQ_BASE:
        return this.cmdq.baseLo;
      case R.CMDQ_BASE + 4:
        return this.cmdq.baseHi;
      case R.CMDQ_PROD:
        return this.cmdq.prod;
      case R.CMDQ_CONS:
        return this.cmdq.cons;
      case R.EVENTQ_BASE:
        return this.eventq.baseLo;
      case R.EVENTQ_BASE + 4:
        return this.eventq.baseHi;
      case R.EVENTQ_PROD % 0x10000:
        return this.eventq.prod;
      case R.EVENTQ_CONS % 0x10000:
        return this.eventq.cons;
    }
    if (this.pri) {
      if (off === R.PRIQ_BASE) return this.priq.baseLo;
      if (off === R.PRIQ_BASE + 4) return this.priq.baseHi;
      if (off === R.PRIQ_PROD % 0x10000) return this.priq.prod;
      if (off === R.PRIQ_CONS % 0x10000) return this.priq.cons;
    }
    const irqCfg = this.irqCfg(off);
    return irqCfg ? irqCfg[0][irqCfg[1]]! : 0;
  }

  /** The IRQ_CFG0 (lo, hi), CFG1 and CFG2 words of GERROR and the event queue. */
  private irqCfg(off: number): [Uint32Array, number] | null {
    const R = SMMU_REG;
    for (const [base, words] of [
      [R.GERROR_IRQ_CFG0, this.gerrorIrqCfg],
      [R.EVENTQ_IRQ_CFG0, this.eventqIrqCfg],
      [R.PRIQ_IRQ_CFG0, this.priqIrqCfg],
    ] as const) {
      if (off >= base && off < base + 16 && (this.pri || words !== this.priqIrqCfg)) return [words, (off - base) / 4];
    }
    return null;
  }

  /** PRIQ_BASE (both halves) and PRIQ_PROD/CONS; true when `off` was one of them. */
  private writePriq(off: number, v: number): boolean {
    const R = SMMU_REG;
    if (off === R.PRIQ_BASE) this.priq.setBase(v, this.priq.baseHi);
    else if (off === R.PRIQ_BASE + 4) this.priq.setBase(this.priq.baseLo, v);
    else if (off === R.PRIQ_PROD % 0x10000) this.priq.prod = v;
    else if (off === R.PRIQ_CONS % 0x10000) this.priq.cons = v;
    else return false;
    return true;
  }

  /** smmu_write_mmio: a 64-bit write is its two halves, low first. */
  write(offset: number, size: 4 | 8, value: bigint): void {
    const off = offset % 0x10000;
    const lo = Number(value & 0xffff_ffffn);
    if (size === 4) return this.writel(off, lo);
    const hi = Number((value >> 32n) & 0xffff_ffffn);
    // Queue and table bases take both halves at once (LOG2SIZE is in the low half).
    if (off === SMMU_REG.CMDQ_BASE) return this.cmdq.setBase(lo, hi);
    if (off === SMMU_REG.EVENTQ_BASE) return this.eventq.setBase(lo, hi);
    if (off === SMMU_REG.PRIQ_BASE && this.pri) return this.priq.setBase(lo, hi);
    this.writel(off, lo);
    this.writel(off + 4, hi);
  }

  private writel(off: number, v: number): void {
    const R = SMMU_REG;
    switch (off) {
      case R.CR0:
        this.cr0 = v;
        this.cr0ack = (v & ~SMMU_CR0_RESERVED) >>> 0;
        smmuV3CmdqConsume(this);
        this.accel?.allocVeventq();
        return;
      case R.CR1:
        this.cr1 = v;
        return;
      case R.CR2:
        this.cr2 = v;
        return;
      case R.GBPA:
        // Only a write with UPDATE changes GBPA; the update completes at once.
        if (v & GBPA_UPDATE) {
          this.gbpa = (v & ~GBPA_UPDATE) >>> 0;
          if (!this.enabled()) this.accel?.attachGbpaHwpt();
        }
        return;
      case R.IRQ_CTRL:
        this.irqCtrl = v;
        return;
      case R.GERRORN:
        this.gerrorn = v;
        // Acknowledging CMDQ_ERR lets command processing resume.
        smmuV3CmdqConsume(this);
        return;
      case R.STRTAB_BASE:
        this.strtabBaseLo = v;
        return;
      case R.STRTAB_BASE + 4:
        this.strtabBaseHi = v;
        return;
      case R.STRTAB_BASE_CFG:
        this.strtabBaseCfg = v;
        return;
      case R.CMDQ_BASE:
        return this.cmdq.setBase(v, this.cmdq.baseHi);
      case R.CMDQ_BASE + 4:
        return this.cmdq.setBase(this.cmdq.baseLo, v);
      case R.CMDQ_PROD:
        this.cmdq.prod = v;
        smmuV3CmdqConsume(this);
        return;
      case R.CMDQ_CONS:
        this.cmdq.cons = v;
        return;
      case R.EVENTQ_BASE:
        return this.eventq.setBase(v, this.eventq.baseHi);
      case R.EVENTQ_BASE + 4:
        return this.eventq.setBase(this.eventq.baseLo, v);
      case R.EVENTQ_PROD % 0x10000:
        this.eventq.prod = v;
        return;
      case R.EVENTQ_CONS % 0x10000:
        this.eventq.cons = v;
        return;
    }
    if (this.pri && this.writePriq(off, v)) return;
    const irqCfg = this.irqCfg(off);
    if (irqCfg) irqCfg[0][irqCfg[1]] = v;
  }
}
