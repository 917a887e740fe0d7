// The emulated intel-iommu (hw/i386/intel_iommu.c): a DMAR unit at 0xfed90000 whose registers are VM exits,
// whose tables live in guest RAM, and which keeps the assigned devices' host mappings in step with them.
import {
  DMA_FECTL_IM,
  DMA_FECTL_IP,
  DMA_FSTS_IQE,
  DMA_GCMD_IRE,
  DMA_GCMD_QIE,
  DMA_GCMD_SIRTP,
  DMA_GCMD_SRTP,
  DMA_GCMD_TE,
  DMA_ICS_IWC,
  DMA_RTADDR_SMT,
  DMAR_CAP_REG,
  DMAR_CCMD_REG,
  DMAR_ECAP_REG,
  DMAR_FECTL_REG,
  DMAR_FEADDR_REG,
  DMAR_FEDATA_REG,
  DMAR_FEUADDR_REG,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_ICS_REG,
  DMAR_IEADDR_REG,
  DMAR_IECTL_REG,
  DMAR_IEDATA_REG,
  DMAR_IEUADDR_REG,
  DMAR_IQA_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  DMAR_RTADDR_REG,
  DMAR_VER_REG,
  VTD_FRCD_REG_OFFSET,
} from '@iommu-lab/hw-vtd/format';
import { IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 } from '@iommu-lab/iommu-core';
import type { HostHwInfo } from '../backends/iommufd.js';
import type { QemuDriverOpts } from '../qemu/options.js';
import type { MmioRegion } from '../vm/mmio.js';
import type { HostIommuDevice, VirtualIommu } from '../vm/viommu-model.js';
import type { Vm } from '../vm/vm.js';
import { VtdAddressSpace } from './address-space.js';
import { vtdCapInit } from './caps.js';
import { intelIommuConfig } from './config.js';
import { labFaultDeliver, labFaultSetup } from './fault-ext.js';
import { VtdFaultUnit } from './fault.js';
import { hostVtdInfo, vtdCheckHiod } from './hiod.js';
import { VtdInvQueue } from './inv-queue.js';
import { defineSvmRegs, VtdSvm } from './svm.js';
import { invHandlers, registerInvalidation } from './reg-inval.js';
import { contextGlobalInvalidate, pasidCacheReset, pasidCacheSync, PC_GLOBAL, refreshAll } from './invalidate.js';
import { DMAR_IOTLB_REG, DMAR_IRTA_REG, DMAR_IVA_REG, DMAR_PMEN_REG, DMAR_REG_SIZE, Q35_HOST_BRIDGE_IOMMU_ADDR, VtdCsr, vtdRegName } from './regs.js';
import type { VtdState } from './state.js';

// IECTL_REG has FECTL_REG's IM/IP bits (10.4.27).
const IECTL_IM = DMA_FECTL_IM;
const IECTL_IP = DMA_FECTL_IP;

export class IntelIommuDevice implements VirtualIommu, MmioRegion {
  readonly name = 'intel-iommu';
  readonly base = Q35_HOST_BRIDGE_IOMMU_ADDR;
  readonly size = DMAR_REG_SIZE;
  readonly wantNestingParent: boolean;
  readonly s: VtdState;
  readonly csr = new VtdCsr();
  readonly iq: VtdInvQueue;
  readonly fault: VtdFaultUnit;
  /** svm=on: virtual commands, the page request queue, guest PASID bindings; else null. */
  readonly svm: VtdSvm | null;

  constructor(
    readonly vm: Vm,
    opts: QemuDriverOpts,
  ) {
    const cfg = intelIommuConfig(opts);
    const { cap, ecap } = vtdCapInit(cfg);
    const sagaw = Number((cap >> 8n) & 0x1fn);
    this.s = {
      vm,
      cfg,
      cap,
      ecap,
      structCfg: { awBits: cfg.awBits, fsts: cfg.fsts, ssts: cfg.scalableMode && !cfg.fsts, pt: cfg.pt, sagaw },
      root: 0,
      rootScalable: false,
      dmarEnabled: false,
      contextCacheGen: 1,
      spaces: [],
      errors: [],
      sva: null,
      pageFaults: null,
      tp: { bind: vm.host.trace.point('vtd_pasid_bind', 'viommu'), walk: vm.host.trace.point('vtd_page_walk', 'viommu') },
    };
    this.wantNestingParent = cfg.fsts;
    this.fault = new VtdFaultUnit(this.csr, (a, d) => this.interrupt(a, d));
    this.iq = new VtdInvQueue(vm.ram, invHandlers(this.s, () => this.completionEvent()), () => vm.stats, vm.host.trace.point('vtd_inv_desc', 'viommu'));
    this.iq.pageDrain = cfg.svm;
    this.svm = cfg.svm ? new VtdSvm(this.s, this.csr, this.fault, (a, d) => this.interrupt(a, d)) : null;
    this.init();
    vm.mmio.add(this);
  }

  /** vtd_init: register values and their write/w1c/write-only masks. */
  private init(): void {
    const c = this.csr;
    c.reset();
    c.defineLong(DMAR_VER_REG, 0x10, 0, 0);
    c.defineQuad(DMAR_CAP_REG, this.s.cap, 0n, 0n);
    c.defineQuad(DMAR_ECAP_REG, this.s.ecap, 0n, 0n);
    c.defineLong(DMAR_GCMD_REG, 0, 0xff80_0000, 0, 0xff80_0000);
    c.defineLong(DMAR_GSTS_REG, 0, 0, 0);
    c.defineQuad(DMAR_RTADDR_REG, 0n, 0xffff_ffff_ffff_fc00n, 0n);
    c.defineQuad(DMAR_CCMD_REG, 0n, 0xe000_0003_ffff_ffffn, 0n, 0x3_ffff_0000n);
    c.defineLong(DMAR_FSTS_REG, 0, 0, 0x11);
    c.defineLong(DMAR_FECTL_REG, 0x8000_0000, 0x8000_0000, 0);
    c.defineLong(DMAR_FEDATA_REG, 0, 0xffff, 0);
    c.defineLong(DMAR_FEADDR_REG, 0, 0xffff_fffc, 0);
    c.defineLong(DMAR_FEUADDR_REG, 0, 0, 0);
    c.defineLong(DMAR_PMEN_REG, 0, 0, 0);
    c.defineQuad(DMAR_IQH_REG, 0n, 0n, 0n);
    c.defineQuad(DMAR_IQT_REG, 0n, 0x7fff0n, 0n);
    c.defineQuad(DMAR_IQA_REG, 0n, 0xffff_ffff_ffff_f807n, 0n);
    c.defineLong(DMAR_ICS_REG, 0, 0, 1);
    c.defineLong(DMAR_IECTL_REG, 0x8000_0000, 0x8000_0000, 0);
    c.defineLong(DMAR_IEDATA_REG, 0, 0xffff_ffff, 0);
    c.defineLong(DMAR_IEADDR_REG, 0, 0xffff_fffc, 0);
    c.defineLong(DMAR_IEUADDR_REG, 0, 0, 0);
    c.defineQuad(DMAR_IOTLB_REG, 0n, 0xb003_ffff_0000_0000n, 0n);
    c.defineQuad(DMAR_IVA_REG, 0n, 0xffff_ffff_ffff_f07fn, 0n, 0xffff_ffff_ffff_f07fn);
    c.defineQuad(VTD_FRCD_REG_OFFSET, 0n, 0n, 0n);
    c.defineQuad(VTD_FRCD_REG_OFFSET + 8, 0n, 0n, 0x8000_0000_0000_0000n);
    c.defineQuad(DMAR_IRTA_REG, 0n, 0xffff_ffff_ffff_f80fn, 0n);
    defineSvmRegs(c, this.s.cfg.svm);
  }

  /** vtd_unrealize: the VM goes; with svm its PASID bindings and PASIDs go back to the host. */
  unrealize(): void {
    this.svm?.unrealize();
  }

  /** vtd_get_host_iommu_quirks: with the SPR17 erratum, no read-only guest memory goes into the nest parent. */
  hostIommuQuirks(caps: HostHwInfo): { nestingParentBypassRo: boolean } {
    const vtd = hostVtdInfo(caps);
    return { nestingParentBypassRo: ((vtd?.flags ?? 0) & IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17) !== 0 };
  }

  /** vtd_dev_set_iommu_device. */
  setIommuDevice(hiod: HostIommuDevice): void {
    if (!this.s.cfg.cachingMode) throw new Error('Device assignment is not allowed without enabling caching-mode=on for Intel IOMMU.');
    if (this.s.spaces.some((as) => as.hiod.guestRid === hiod.guestRid)) throw new Error('Host IOMMU device already exist');
    vtdCheckHiod(this.s.cfg, hiod);
    if (hiod.kind !== 'iommufd') return;
    const as = new VtdAddressSpace(this.s, hiod);
    this.s.spaces.push(as);
    if (this.s.cfg.fsts) labFaultSetup(this.s, as, (a) => labFaultDeliver(this.s, a, this.fault));
    as.switchAddressSpace();
  }

  /** The address space of the device with this guest RID. */
  addressSpace(guestRid: number): VtdAddressSpace | undefined {
    return this.s.spaces.find((as) => as.sid === guestRid);
  }

  regName(offset: number): string | undefined {
    return vtdRegName(offset);
  }

  /** vtd_mem_read. */
  read(off: number, size: 4 | 8): bigint {
    if (off + size > DMAR_REG_SIZE) return size === 8 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn;
    let lo: number;
    let hi: number;
    if (off === DMAR_IQA_REG) {
      // The latched queue base with QS and DW from the register.
      lo = ((this.iq.base % 2 ** 32) | (this.csr.getLong(DMAR_IQA_REG) & 0x807)) >>> 0;
      hi = Math.floor(this.iq.base / 2 ** 32);
    } else {
      lo = this.csr.getLong(off);
      hi = this.csr.getLong(off + 4);
    }
    return size === 4 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** vtd_mem_write: store through the masks, then act on the register. */
  write(off: number, size: 4 | 8, value: bigint): void {
    if (off + size > DMAR_REG_SIZE) return;
    const lo = Number(value & 0xffff_ffffn);
    this.csr.setLong(off, lo);
    if (size === 8) this.csr.setLong(off + 4, Number((value >> 32n) & 0xffff_ffffn));
    if (this.svm?.write(off, size)) return;
    switch (off) {
      case DMAR_GCMD_REG:
        return this.gcmdWrite();
      case DMAR_CCMD_REG:
      case DMAR_IOTLB_REG:
        if (size === 8) registerInvalidation(this.s, this.csr, off, this.iq.enabled);
        return;
      case DMAR_CCMD_REG + 4:
      case DMAR_IOTLB_REG + 4:
        return registerInvalidation(this.s, this.csr, off - 4, this.iq.enabled);
      case DMAR_IQT_REG:
        return this.iqtWrite();
      case DMAR_IQA_REG:
        // vtd_update_iq_dw: 256-bit descriptors only with ECAP.SMTS.
        this.iq.dw = this.s.cfg.scalableMode && (this.csr.raw(DMAR_IQA_REG) & 0x800) !== 0;
        return;
      case DMAR_FSTS_REG:
        if ((this.csr.raw(DMAR_FECTL_REG) & DMA_FECTL_IP) !== 0 && (this.csr.raw(DMAR_FSTS_REG) & 0x13) === 0) this.csr.setClear(DMAR_FECTL_REG, DMA_FECTL_IP, 0);
        return;
      case DMAR_FECTL_REG: {
        const fectl = this.csr.raw(DMAR_FECTL_REG);
        if ((fectl & DMA_FECTL_IP) !== 0 && (fectl & DMA_FECTL_IM) === 0) {
          this.interrupt(this.csr.raw(DMAR_FEADDR_REG), this.csr.raw(DMAR_FEDATA_REG));
          this.csr.setClear(DMAR_FECTL_REG, DMA_FECTL_IP, 0);
        }
        return;
      }
      case DMAR_ICS_REG:
        if ((this.csr.raw(DMAR_IECTL_REG) & IECTL_IP) !== 0 && (this.csr.raw(DMAR_ICS_REG) & DMA_ICS_IWC) === 0) this.csr.setClear(DMAR_IECTL_REG, IECTL_IP, 0);
        return;
      case DMAR_IECTL_REG: {
        const iectl = this.csr.raw(DMAR_IECTL_REG);
        if ((iectl & IECTL_IP) !== 0 && (iectl & IECTL_IM) === 0) {
          this.interrupt(this.csr.raw(DMAR_IEADDR_REG), this.csr.raw(DMAR_IEDATA_REG));
          this.csr.setClear(DMAR_IECTL_REG, IECTL_IP, 0);
        }
        return;
      }
      case VTD_FRCD_REG_OFFSET + 8:
        if (size === 8) this.fault.updatePpf();
        return;
      case VTD_FRCD_REG_OFFSET + 12:
        this.fault.updatePpf();
        return;
    }
  }

  /** vtd_handle_gcmd_write: level bits (TE, QIE, IRE) act on change, one-shot bits (SRTP, SIRTP) when set. */
  private gcmdWrite(): void {
    const status = this.csr.raw(DMAR_GSTS_REG);
    const val = this.csr.raw(DMAR_GCMD_REG);
    const changed = status ^ val;
    if (changed & DMA_GCMD_TE && this.s.cfg.dmaTranslation) this.te((val & DMA_GCMD_TE) !== 0);
    if (val & DMA_GCMD_SRTP) this.srtp();
    if (changed & DMA_GCMD_QIE) this.qie((val & DMA_GCMD_QIE) !== 0);
    if (val & DMA_GCMD_SIRTP) this.csr.setClear(DMAR_GSTS_REG, 0, DMA_GCMD_SIRTP);
    if (changed & DMA_GCMD_IRE && this.s.cfg.intremap) this.csr.setClear(DMAR_GSTS_REG, DMA_GCMD_IRE, val & DMA_GCMD_IRE);
  }

  /** vtd_handle_gcmd_srtp: latch the root table and its mode; every cache and binding starts over. */
  private srtp(): void {
    const rt = this.csr.rawQuad(DMAR_RTADDR_REG);
    const awMask = (1n << BigInt(this.s.cfg.awBits)) - 1n;
    this.s.root = Number(rt & awMask & ~0xfffn);
    this.s.rootScalable = this.s.cfg.scalableMode && (rt & DMA_RTADDR_SMT) !== 0n;
    this.csr.setClear(DMAR_GSTS_REG, 0, DMA_GCMD_SRTP);
    this.resetCaches();
    refreshAll(this.s);
    pasidCacheSync(this.s, PC_GLOBAL, 0, 0);
  }

  /** vtd_handle_gcmd_te. */
  private te(en: boolean): void {
    if (this.s.dmarEnabled === en) return;
    this.s.dmarEnabled = en;
    this.csr.setClear(DMAR_GSTS_REG, en ? 0 : DMA_GCMD_TE, en ? DMA_GCMD_TE : 0);
    if (!en) this.fault.nextFrcdReg = 0;
    this.resetCaches();
    refreshAll(this.s);
    pasidCacheSync(this.s, PC_GLOBAL, 0, 0);
  }

  /** vtd_reset_caches: context-cache generation, PASID cache (unbinding what was bound). */
  private resetCaches(): void {
    this.s.contextCacheGen = 1;
    pasidCacheReset(this.s);
  }

  /** vtd_handle_gcmd_qie. */
  private qie(en: boolean): void {
    const iq = this.iq;
    if (en) {
      const iqa = this.csr.rawQuad(DMAR_IQA_REG);
      iq.base = Number(iqa & ((1n << BigInt(this.s.cfg.awBits)) - 1n) & ~0xfffn);
      iq.size = 2 ** (Number(iqa & 7n) + 8 - (iq.dw ? 1 : 0));
      iq.enabled = true;
      this.csr.setClear(DMAR_GSTS_REG, 0, DMA_GCMD_QIE);
      if (iq.tail !== 0 && (this.csr.raw(DMAR_FSTS_REG) & DMA_FSTS_IQE) === 0) this.fetch();
    } else if (iq.enabled && iq.tail === iq.head && iq.lastDescType === 5) {
      this.csr.setRaw(DMAR_IQH_REG, 0);
      iq.head = 0;
      iq.enabled = false;
      this.csr.setClear(DMAR_GSTS_REG, DMA_GCMD_QIE, 0);
    } else {
      this.s.errors.push(`detected improper state when disable QI (head=0x${iq.head.toString(16)}, tail=0x${iq.tail.toString(16)}, last_type=${iq.lastDescType})`);
    }
  }

  /** vtd_handle_iqt_write: the guest queued descriptors; they are processed now, inside this exit. */
  private iqtWrite(): void {
    const val = this.csr.raw(DMAR_IQT_REG);
    if (this.iq.dw && (val & 0x10) !== 0) return this.invQueueError();
    this.iq.tail = this.iq.dw ? (val >>> 5) & 0x3fff : (val >>> 4) & 0x7fff;
    if (this.iq.enabled && (this.csr.raw(DMAR_FSTS_REG) & DMA_FSTS_IQE) === 0) this.fetch();
  }

  private fetch(): void {
    const ok = this.iq.fetch();
    this.csr.setRaw(DMAR_IQH_REG, this.iq.iqhReg);
    if (!ok) this.invQueueError();
  }

  /** vtd_handle_inv_queue_error: FSTS.IQE and a fault event. */
  private invQueueError(): void {
    const fsts = this.csr.raw(DMAR_FSTS_REG);
    this.csr.setClear(DMAR_FSTS_REG, 0, DMA_FSTS_IQE);
    this.fault.faultEvent(fsts);
  }

  /** vtd_generate_completion_event. */
  private completionEvent(): void {
    if (this.csr.raw(DMAR_ICS_REG) & DMA_ICS_IWC) return;
    this.csr.setClear(DMAR_ICS_REG, 0, DMA_ICS_IWC);
    this.csr.setClear(DMAR_IECTL_REG, 0, IECTL_IP);
    if (this.csr.raw(DMAR_IECTL_REG) & IECTL_IM) return;
    this.interrupt(this.csr.raw(DMAR_IEADDR_REG), this.csr.raw(DMAR_IEDATA_REG));
    this.csr.setClear(DMAR_IECTL_REG, IECTL_IP, 0);
  }

  /** An MSI to the guest: the line is named after its data (the vector the guest programmed). */
  private interrupt(_addr: number, data: number): void {
    this.vm.raiseIrq(`msi:0x${(data >>> 0).toString(16)}`);
  }

  /** A global context-cache invalidation as the guest's register or descriptor would ask for it. */
  contextGlobalInvalidate(): void {
    contextGlobalInvalidate(this.s);
  }
}
