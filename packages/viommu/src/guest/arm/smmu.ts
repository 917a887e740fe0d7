// The guest's arm-smmu-v3 driver (Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c): probe from the ID registers,
// queues and stream table in guest RAM, the reset sequence, and per master a CD table, a stage-1 DMA domain and
// its STE, all through MMIO and guest RAM.
import { ATC_INV_SIZE_ALL, CMDQ_OP as OP, CR0_ATSCHK, CR0_CMDQEN, CR0_EVTQEN, CR0_PRIQEN, CR0_SMMUEN, Idr0, Idr1, Idr3, Idr5, IRQ_CTRL_EVTQ_IRQEN, IRQ_CTRL_GERROR_IRQEN, IRQ_CTRL_PRIQ_IRQEN, SMMU_REG, STE_S1DSS_SSID0, addrSizeBits, addrSizeEncoding } from '@iommu-lab/hw-smmuv3/format';
import { SMMU_IRQ } from '../../arm-smmuv3/regs.js';
import type { Vm, VmDevice } from '../../vm/vm.js';
import { type FlushMode, GuestDmaApi } from '../dma-iommu.js';
import { GuestMmio } from '../mmio-regs.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import { GuestCdTable } from './cd-table.js';
import { GuestCmdq, GuestQueue, Q_MAX_SZ_SHIFT } from './cmdq.js';
import { CmdBatch } from './cmds.js';
import { ArmSmmuDomain } from './domain.js';
import { cdUsed, steUpdateSafe, steUsed, writeEntry } from './entry-writer.js';
import { dumpSmmuStream } from './debugfs.js';
import { ArmSmmuEvents, type GuestSmmuEvent } from './events.js';
import { ArmSmmuPriq } from './priq.js';
import { makeAbortSte, makeCdtableSte, makeS1Cd } from './ste.js';
import { GuestStrtab } from './strtab.js';
import { ArmSmmuTlb } from './tlb.js';

/** CR1: queues and tables inner-shareable, write-back (arm_smmu_device_reset). CR2: PTM | RECINVSID. */
const CR1_RESET = (3 << 10) | (1 << 8) | (1 << 6) | (3 << 4) | (1 << 2) | 1;
const CR2_RESET = (1 << 2) | (1 << 1);
const POLL_LIMIT = 16;

/** struct arm_smmu_master: one device (its StreamID) behind the SMMU. */
export interface ArmSmmuMaster {
  readonly sid: number;
  readonly ssidBits: number;
  readonly cdTable: GuestCdTable;
  readonly atsSupported: boolean;
  /** The PRI series: the device has PRI and the unit a PRI queue; PASID responses must carry the SubstreamID. */
  readonly priSupported: boolean;
  readonly prgRespNeedsSsid: boolean;
  /** PRI Enable written in the device's PRI capability (pci_enable_pri), while some PASID takes page faults. */
  priEnabled: boolean;
  /** SubstreamIDs whose domain takes I/O page faults. */
  readonly iopfSsids: Set<number>;
  domain: ArmSmmuDomain | null;
}

export class ArmSmmuGuest {
  readonly regs: GuestMmio;
  readonly features: { twoLvlStrtab: boolean; twoLvlCdtab: boolean; msiPoll: boolean; rangeInv: boolean; ats: boolean; pri: boolean; stalls: boolean; attrTypesOvr: boolean; coherent: boolean };
  readonly sidBits: number;
  readonly ssidBits: number;
  readonly asidBits: number;
  readonly oas: number;
  readonly gran4k: boolean;
  readonly cmdq: GuestCmdq;
  readonly evtq: GuestQueue;
  /** The PRI queue, with IDR0.PRI. */
  readonly priq: ArmSmmuPriq | null;
  readonly strtab: GuestStrtab;
  readonly events: ArmSmmuEvents;
  readonly tlb: ArmSmmuTlb;
  readonly masters = new Map<number, ArmSmmuMaster>();
  private readonly atsSids = new Set<number>();
  private readonly b = new CmdBatch();
  /** ASIDs in use (arm_smmu_asid_xa): DMA domains and SVA domains share them. */
  private readonly asids = new Set<number>();

  constructor(
    readonly vm: Vm,
    private readonly pages: GuestPageAllocator,
    base: number,
  ) {
    this.regs = new GuestMmio(vm.mmio, base);
    // arm_smmu_device_hw_probe.
    const idr0 = Idr0.decode(this.regs.readl(SMMU_REG.IDR0));
    if (idr0.ttendian !== 0 && idr0.ttendian !== 2) throw new Error('arm-smmu-v3: unknown/unsupported TT endianness!');
    if (!idr0.s1p && !idr0.s2p) throw new Error('arm-smmu-v3: no translation support!');
    if (!(idr0.ttf & 2)) throw new Error('arm-smmu-v3: AArch64 table format not supported!');
    if (!idr0.s1p) throw new Error('arm-smmu-v3: this guest driver gives DMA domains stage 1 only, and the unit has none');
    const idr1 = Idr1.decode(this.regs.readl(SMMU_REG.IDR1));
    if (idr1.rel || idr1.queuesPreset || idr1.tablesPreset) throw new Error('arm-smmu-v3: embedded implementation not supported');
    const idr3 = Idr3.decode(this.regs.readl(SMMU_REG.IDR3));
    const idr5 = Idr5.decode(this.regs.readl(SMMU_REG.IDR5));
    const coherent = idr0.cohacc === 1;
    this.sidBits = idr1.sidsize;
    this.ssidBits = idr1.ssidsize;
    this.asidBits = idr0.asid16 ? 16 : 8;
    this.oas = [0, 1, 2, 3, 4, 6].includes(idr5.oas) ? addrSizeBits(idr5.oas) : 48;
    this.gran4k = idr5.gran4k === 1;
    if (!this.gran4k) throw new Error('arm-smmu-v3: the unit has no 4 KiB granule, which this guest uses');
    this.features = {
      twoLvlStrtab: idr0.stLevel === 1 && this.sidBits > 8,
      twoLvlCdtab: idr0.cd2l === 1,
      msiPoll: coherent && idr0.msi === 1,
      rangeInv: idr3.ril === 1,
      ats: idr0.ats === 1,
      pri: idr0.pri === 1,
      coherent,
      stalls: idr0.stallModel === 0 || idr0.stallModel === 2,
      attrTypesOvr: idr1.attrTypesOvr === 1,
    };
    const cmdqShift = Math.min(Q_MAX_SZ_SHIFT - 4, idr1.cmdqs);
    if (cmdqShift <= 6) throw new Error('arm-smmu-v3: command queue size <= 64 entries not supported');
    // arm_smmu_init_structures.
    this.cmdq = new GuestCmdq(vm.ram, this.regs, pages, cmdqShift, this.features.msiPoll);
    this.evtq = new GuestQueue(pages, Math.min(Q_MAX_SZ_SHIFT - 5, idr1.eventqs), 32);
    this.strtab = new GuestStrtab(vm.ram, pages, this.sidBits, this.features.twoLvlStrtab);
    this.events = new ArmSmmuEvents(vm.ram, this.regs, this.evtq, this.cmdq.q);
    this.priq = this.features.pri ? new ArmSmmuPriq(vm.ram, this.regs, this.cmdq, pages, Math.min(Q_MAX_SZ_SHIFT - 4, idr1.priqs), this.masters) : null;
    this.tlb = new ArmSmmuTlb(this.cmdq, { rangeInv: this.features.rangeInv, atsSids: this.atsSids });
    this.reset();
  }

  /** arm_smmu_write_reg_sync: write, then poll the ACK register until it matches. */
  private writeRegSync(v: number, reg: number, ack: number): void {
    this.regs.writel(reg, v);
    for (let i = 0; i < POLL_LIMIT; i++) if (this.regs.readl(ack) === v >>> 0) return;
    throw new Error(`arm-smmu-v3: register 0x${reg.toString(16)} not acknowledged`);
  }

  /** @internal arm_smmu_cmdq_issue_cmd_with_sync of one command. */
  cmdWithSync(fill: (b: CmdBatch) => void, sync = true): void {
    fill(this.b);
    this.cmdq.issue(this.b, sync);
  }

  /** arm_smmu_device_reset, then arm_smmu_setup_irqs (wired: the virt machine gives the guest no MSI domain). */
  private reset(): void {
    const R = SMMU_REG;
    // A unit left enabled (kexec) would first be told to abort incoming traffic; this one comes out of reset.
    if (this.regs.readl(R.CR0) & CR0_SMMUEN) throw new Error('arm-smmu-v3: SMMU currently enabled, and GBPA abort is not modelled in this guest');
    this.writeRegSync(0, R.CR0, R.CR0ACK);
    this.regs.writel(R.CR1, CR1_RESET);
    this.regs.writel(R.CR2, CR2_RESET);
    this.regs.writeq(R.STRTAB_BASE, this.strtab.base());
    this.regs.writel(R.STRTAB_BASE_CFG, this.strtab.baseCfg());
    this.regs.writeq(R.CMDQ_BASE, this.cmdq.q.base());
    this.regs.writel(R.CMDQ_PROD, this.cmdq.q.prod);
    this.regs.writel(R.CMDQ_CONS, this.cmdq.q.cons);
    let enables = CR0_CMDQEN;
    this.writeRegSync(enables, R.CR0, R.CR0ACK);
    this.cmdWithSync((b) => b.cfgiAll());
    this.cmdWithSync((b) => b.tlbi(OP.TLBI_NSNH_ALL, 0, 0));
    this.regs.writeq(R.EVENTQ_BASE, this.evtq.base());
    this.regs.writel(R.EVENTQ_PROD, this.evtq.prod);
    this.regs.writel(R.EVENTQ_CONS, this.evtq.cons);
    enables |= CR0_EVTQEN;
    this.writeRegSync(enables, R.CR0, R.CR0ACK);
    if (this.priq) {
      this.regs.writeq(R.PRIQ_BASE, this.priq.q.base());
      this.regs.writel(R.PRIQ_PROD, this.priq.q.prod);
      this.regs.writel(R.PRIQ_CONS, this.priq.q.cons);
      enables |= CR0_PRIQEN;
      this.writeRegSync(enables, R.CR0, R.CR0ACK);
    }
    if (this.features.ats) {
      enables |= CR0_ATSCHK;
      this.writeRegSync(enables, R.CR0, R.CR0ACK);
    }
    // arm_smmu_setup_irqs: interrupts off, the MSI addresses cleared, the wired lines' handlers, interrupts on.
    this.writeRegSync(0, R.IRQ_CTRL, R.IRQ_CTRLACK);
    this.regs.writeq(R.GERROR_IRQ_CFG0, 0n);
    this.regs.writeq(R.EVENTQ_IRQ_CFG0, 0n);
    if (this.priq) this.regs.writeq(R.PRIQ_IRQ_CFG0, 0n);
    this.vm.onIrq(SMMU_IRQ.EVTQ, () => this.events.evtqThread());
    this.vm.onIrq(SMMU_IRQ.GERROR, () => this.events.gerrorHandler());
    if (this.priq) this.vm.onIrq(SMMU_IRQ.PRIQ, () => this.priq!.thread());
    this.writeRegSync(IRQ_CTRL_EVTQ_IRQEN | IRQ_CTRL_GERROR_IRQEN | (this.priq ? IRQ_CTRL_PRIQ_IRQEN : 0), R.IRQ_CTRL, R.IRQ_CTRLACK);
    enables |= CR0_SMMUEN;
    this.writeRegSync(enables, R.CR0, R.CR0ACK);
  }

  /** arm_smmu_probe_device: the master's stream table entry (abort) and its CD table; arm_smmu_init_pri. */
  probeDevice(sid: number, devPasidBits: number, devAts: boolean, devPri = false): ArmSmmuMaster {
    if (sid >= 2 ** this.sidBits) throw new RangeError(`arm-smmu-v3: sid 0x${sid.toString(16)} out of range`);
    this.strtab.initSid(sid);
    let ssidBits = Math.min(this.ssidBits, devPasidBits);
    // Without 2-level CD tables a linear one holds at most 2^CTXDESC_LINEAR_CDMAX (10) contexts.
    if (!this.features.twoLvlCdtab) ssidBits = Math.min(ssidBits, 10);
    const priSupported = this.features.pri && devPri;
    const m: ArmSmmuMaster = {
      sid,
      ssidBits,
      cdTable: new GuestCdTable(this.vm.ram, this.pages, ssidBits, this.features.twoLvlCdtab),
      atsSupported: this.features.ats && devAts,
      priSupported,
      prgRespNeedsSsid: priSupported && ssidBits > 0,
      priEnabled: false,
      iopfSsids: new Set(),
      domain: null,
    };
    this.masters.set(sid, m);
    return m;
  }

  /** arm_smmu_domain_alloc_paging + finalise_s1: an ASID, ias 48 (VA_BITS), oas the unit's. */
  allocDomain(): ArmSmmuDomain {
    return new ArmSmmuDomain(this.vm.ram, this.pages, this.allocAsid(), 48, this.oas, this.gran4k);
  }

  /** xa_alloc on arm_smmu_asid_xa: the lowest free ASID from 1. */
  allocAsid(): number {
    for (let asid = 1; asid < 2 ** this.asidBits; asid++) {
      if (this.asids.has(asid)) continue;
      this.asids.add(asid);
      return asid;
    }
    throw new RangeError('arm-smmu-v3: out of ASIDs');
  }

  freeAsid(asid: number): void {
    this.asids.delete(asid);
  }

  /** @internal CFGI_CD of a master's SubstreamID, with a CMD_SYNC. */
  syncCd(m: ArmSmmuMaster, ssid: number, leaf: boolean): void {
    this.cmdWithSync((b) => b.cfgiCd(m.sid, ssid, leaf));
  }

  /** arm_smmu_write_ste: hitless update with CFGI_STE syncs, then PREFETCH_CONFIG (no sync). */
  private writeSte(m: ArmSmmuMaster, target: bigint[]): void {
    writeEntry(this.vm.ram, this.strtab.stePtr(m.sid), target, { getUsed: steUsed, getUpdateSafe: steUpdateSafe, sync: () => this.cmdWithSync((b) => b.cfgiSte(m.sid, true)) });
    this.cmdWithSync((b) => b.prefetchCfg(m.sid), false);
  }

  /** arm_smmu_attach_dev for a stage-1 domain: CD 0 of the master, then its STE through the CD table. */
  attachDevice(m: ArmSmmuMaster, d: ArmSmmuDomain): void {
    const old = m.domain;
    const cdptr = m.cdTable.cdPtr(0, true, () => this.syncCd(m, 0, false));
    const cd = makeS1Cd({ t0sz: 64 - d.ias, ips: addrSizeEncoding(d.oas), coherent: true, asid: d.asid, ttb0: d.pgd, stall: false });
    writeEntry(this.vm.ram, cdptr, cd, { getUsed: cdUsed, sync: () => this.syncCd(m, 0, true) });
    const ats = m.atsSupported;
    const ste = makeCdtableSte({ cdtab: m.cdTable.gpa, s1fmt: m.cdTable.s1fmt, s1cdmax: m.cdTable.s1cdmax, atsEnabled: ats, s1dss: STE_S1DSS_SSID0, stallDisable: this.features.stalls, attrTypesOvr: this.features.attrTypesOvr });
    this.writeSte(m, ste);
    m.domain = d;
    d.sids.add(m.sid);
    if (ats) this.atsSids.add(m.sid);
    if (old && old !== d) this.dropDomain(m, old);
    // arm_smmu_attach_commit: with ATS, the ATC of the master starts clean.
    if (ats) this.cmdWithSync((b) => b.atcInv(m.sid, 0, 0, ATC_INV_SIZE_ALL));
  }

  /** arm_smmu_attach_dev_blocked: an abort STE; the old domain's ASID is flushed once nobody uses it. */
  detachDevice(m: ArmSmmuMaster): void {
    const d = m.domain;
    this.writeSte(m, makeAbortSte());
    this.atsSids.delete(m.sid);
    m.domain = null;
    if (d) this.dropDomain(m, d);
  }

  /** iommu_setup_dma_ops for a device: its master, a default stage-1 DMA domain attached, and the DMA API over it. */
  dmaApi(dev: VmDevice, flush: FlushMode): GuestDmaApi {
    const m = this.probeDevice(dev.vfio.guestRid, dev.vfio.host.pasidBits, dev.vfio.host.ats, dev.vfio.host.pri);
    const d = this.allocDomain();
    this.attachDevice(m, d);
    return new GuestDmaApi(d, this.tlb, flush, 2 ** (d.ias - 12));
  }

  /** The master's ATS is on (its STE has EATS and its ATC gets invalidations). */
  atsEnabled(m: ArmSmmuMaster): boolean {
    return this.atsSids.has(m.sid);
  }

  /** The events the guest's event queue handler logged. */
  get faults(): readonly GuestSmmuEvent[] {
    return this.events.log;
  }

  dump(dev: VmDevice, pasid = 0): string {
    return dumpSmmuStream(this, this.vm.ram, dev.vfio.guestRid, pasid);
  }

  /** arm_smmu_install_old_domain_invs: a tag no longer used is cleared from the TLB (TLBI_NH_ASID + sync). */
  private dropDomain(m: ArmSmmuMaster, d: ArmSmmuDomain): void {
    d.sids.delete(m.sid);
    if (d.sids.size === 0) this.cmdWithSync((b) => b.tlbi(OP.TLBI_NH_ASID, d.asid, 0));
  }
}
