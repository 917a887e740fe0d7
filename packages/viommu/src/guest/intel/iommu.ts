// The guest's intel-iommu driver (Linux intel/iommu.c, scalable mode): it finds the unit's capabilities in its
// registers, sets up queued invalidation, the root table and per-device context + PASID tables, gives each
// device a DMA paging domain (first stage when the unit offers it, else second stage) and enables translation.
import {
  DMA_GCMD_SRTP,
  DMA_GCMD_TE,
  DMA_GSTS_RTPS,
  DMA_GSTS_TES,
  DMA_RTADDR_SMT,
  DMAR_CAP_REG,
  DMAR_ECAP_REG,
  DMAR_FECTL_REG,
  DMAR_FEADDR_REG,
  DMAR_FEDATA_REG,
  DMAR_FEUADDR_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_RTADDR_REG,
  PASID_ENTRY_PGTT_FL_ONLY,
  PASID_ENTRY_PGTT_SL_ONLY,
  VtdCap,
  VtdEcap,
} from '@iommu-lab/hw-vtd/format';
import type { Vm } from '../../vm/vm.js';
import { GuestMmio } from '../mmio-regs.js';
import type { GuestPageAllocator } from '../page-alloc.js';
import { GuestCacheTags } from './cache.js';
import { DmarDomain } from './domain.js';
import { DmarFaultHandler } from './fault.js';
import { encodePasidEntry, GuestPasidTable } from './pasid.js';
import { GuestQi, QiBatch } from './qi.js';

/** The vector the guest gives the DMAR fault interrupt (dmar_set_interrupt). */
export const DMAR_FAULT_VECTOR = 0x40;
const MSI_ADDR = 0xfee0_0000;

/** struct device_domain_info: one device behind the unit. */
export interface DeviceDomainInfo {
  readonly sid: number;
  readonly pasidTable: GuestPasidTable;
  domain: DmarDomain | null;
  /** ats_supported/enabled (ECAP.DT and the device's ATS), pasid_enabled, pri_supported/enabled (ECAP.PRS+PDS, PRI). */
  readonly ats: boolean;
  readonly pasid: boolean;
  readonly pri: boolean;
}

/** The PCI capabilities of a device the guest sees (ATS, PRI). */
export interface GuestPciCaps {
  ats?: boolean;
  pri?: boolean;
}

export class IntelIommuGuest {
  readonly regs: GuestMmio;
  readonly cap: ReturnType<typeof VtdCap.decode>;
  readonly ecap: ReturnType<typeof VtdEcap.decode>;
  /** iommu->gcmd: the command bits the driver keeps set. */
  private readonly gcmd = { value: 0 };
  readonly qi: GuestQi;
  readonly tags: GuestCacheTags;
  readonly fault: DmarFaultHandler;
  /** Root table GPA. */
  readonly rootGpa: number;
  readonly devices = new Map<number, DeviceDomainInfo>();
  /** Second-stage levels (agaw + 2) the unit supports best, from SAGAW and MGAW. */
  readonly ssLevels: number;
  private nextDid = 2;
  private readonly w = new Uint32Array(2);
  private readonly entry = new Uint32Array(16);

  constructor(
    readonly vm: Vm,
    private readonly pages: GuestPageAllocator,
    base: number,
  ) {
    this.regs = new GuestMmio(vm.mmio, base);
    this.cap = VtdCap.decode([this.regs.readq(DMAR_CAP_REG)]);
    this.ecap = VtdEcap.decode([this.regs.readq(DMAR_ECAP_REG)]);
    if (!this.ecap.smts) throw new Error('DMAR: the unit has no scalable mode (ECAP.SMTS); this guest driver speaks scalable mode only');
    if (!this.ecap.qi) throw new Error('DMAR: the unit has no queued invalidation');
    const mgaw = this.cap.mgaw + 1;
    this.ssLevels = mgaw >= 48 && this.cap.sagaw & 0b100 ? 4 : 3;
    this.qi = new GuestQi(vm.ram, this.regs, pages, true);
    this.tags = new GuestCacheTags(this.qi, { cachingMode: this.cap.cm, psi: this.cap.psi, mamv: this.cap.mamv, drain: this.cap.drd && this.cap.dwd });
    this.fault = new DmarFaultHandler(this.regs, this.cap.fro * 16, this.cap.nfr + 1);
    this.rootGpa = pages.alloc(1);
  }

  /** init_dmars: QI, root table (SRTP), fault interrupt. Translation is enabled last (enableTranslation). */
  init(): void {
    this.qi.enable(this.gcmd);
    this.setRootEntry();
    // dmar_set_interrupt: the MSI, then unmask.
    this.vm.onIrq(`msi:0x${DMAR_FAULT_VECTOR.toString(16)}`, () => this.fault.handle());
    this.regs.writel(DMAR_FEDATA_REG, DMAR_FAULT_VECTOR);
    this.regs.writel(DMAR_FEADDR_REG, MSI_ADDR);
    this.regs.writel(DMAR_FEUADDR_REG, 0);
    this.regs.writel(DMAR_FECTL_REG, 0);
  }

  /** iommu_set_root_entry: RTADDR with TTM = scalable, GCMD.SRTP; with CAP.ESRTPS the unit flushes by itself. */
  private setRootEntry(): void {
    this.regs.writeq(DMAR_RTADDR_REG, BigInt(this.rootGpa) | DMA_RTADDR_SMT);
    this.regs.writel(DMAR_GCMD_REG, this.gcmd.value | DMA_GCMD_SRTP);
    this.regs.waitl(DMAR_GSTS_REG, (v) => (v & DMA_GSTS_RTPS) !== 0, 'SRTP');
    if (this.cap.esrtps) return;
    const b = new QiBatch();
    b.context(0, 0, 0, 1);
    this.qi.submitSync(b);
    b.pasidCache(0, 3, 0);
    this.qi.submitSync(b);
    b.iotlb(0, 1, 0, 0, false, this.cap.drd && this.cap.dwd);
    this.qi.submitSync(b);
  }

  /** iommu_enable_translation. */
  enableTranslation(): void {
    this.gcmd.value |= DMA_GCMD_TE;
    this.regs.writel(DMAR_GCMD_REG, this.gcmd.value);
    this.regs.waitl(DMAR_GSTS_REG, (v) => (v & DMA_GSTS_TES) !== 0, 'TE');
  }

  /** iommu_disable_translation. */
  disableTranslation(): void {
    this.gcmd.value &= ~DMA_GCMD_TE;
    this.regs.writel(DMAR_GCMD_REG, this.gcmd.value);
    this.regs.waitl(DMAR_GSTS_REG, (v) => (v & DMA_GSTS_TES) === 0, 'TE off');
  }

  /** intel_iommu_probe_device: the PASID table and the scalable-mode context entry (intel_pasid_setup_sm_context). */
  probeDevice(sid: number, devPasidBits: number, caps: GuestPciCaps = {}): DeviceDomainInfo {
    const pasidSupported = this.ecap.pasid && devPasidBits > 0;
    const maxPasid = pasidSupported ? Math.min(2 ** devPasidBits, 2 ** (this.ecap.pss + 1)) : 0;
    const ats = this.ecap.dt && caps.ats === true;
    const pri = ats && this.ecap.prs && this.ecap.pds && caps.pri === true;
    const info: DeviceDomainInfo = { sid, pasidTable: new GuestPasidTable(this.vm.ram, this.pages, maxPasid), domain: null, ats, pasid: pasidSupported, pri };
    this.devices.set(sid, info);
    const ctx = this.contextGpa(sid >>> 8, sid & 0xff);
    // context_entry_set_pasid_table: directory + PDTS, RID_PASID 0, DTE with ATS, PASIDE, PRE with PRI, P.
    const lo = (info.pasidTable.dir % 2 ** 32) | (info.pasidTable.pdts << 9) | (pri ? 1 << 4 : 0) | (pasidSupported ? 1 << 3 : 0) | (ats ? 1 << 2 : 0) | 1;
    this.vm.ram.write64(ctx + 8, 0, 0);
    this.vm.ram.write64(ctx, lo >>> 0, Math.floor(info.pasidTable.dir / 2 ** 32));
    // Non-present to present: with caching mode the unit may cache "not present" in domain 0.
    if (this.cap.cm) {
      const b = new QiBatch();
      b.context(0, sid, 0, 3);
      this.qi.submitSync(b);
      b.iotlb(0, 2, 0, 0, false, this.cap.drd && this.cap.dwd);
      this.qi.submitSync(b);
    }
    return info;
  }

  /** iommu_context_addr: the context entry's GPA, allocating the bus's context table half on first use. */
  private contextGpa(bus: number, devfn: number): number {
    const rootEntry = this.rootGpa + bus * 16 + (devfn > 0x7f ? 8 : 0);
    this.vm.ram.read64(rootEntry, this.w);
    let table = (this.w[0]! >>> 12) * 4096 + this.w[1]! * 2 ** 32;
    if ((this.w[0]! & 1) === 0) {
      table = this.pages.alloc(1);
      this.vm.ram.write64(rootEntry, ((table % 2 ** 32) | 1) >>> 0, Math.floor(table / 2 ** 32));
    }
    return table + (devfn & 0x7f) * 32;
  }

  /** A paging domain as intel_iommu_domain_alloc_paging_flags picks it: first stage when the unit has it. */
  allocDomain(): DmarDomain {
    const first = this.ecap.fsts;
    // Largest leaf: 1 GiB with CAP.FS1GP (first stage) or SSLPS bit 1 (second stage); 2 MiB otherwise.
    const maxLevel = first ? (this.cap.fs1gp ? 3 : 2) : this.cap.sslps & 2 ? 3 : this.cap.sslps & 1 ? 2 : 1;
    return new DmarDomain(this.nextDid++, first ? 'first' : 'second', this.vm.ram, this.pages, first ? 4 : this.ssLevels, maxLevel);
  }

  /** dmar_domain_attach_device in scalable mode: the RID_PASID entry for the domain's stage, then its flushes. */
  attachDevice(info: DeviceDomainInfo, d: DmarDomain): void {
    const first = d.stage === 'first';
    if (info.pasidTable.present(0)) throw new Error(`PASID entry of ${info.sid.toString(16)} is present: -EBUSY`);
    encodePasidEntry(
      {
        pgtt: first ? PASID_ENTRY_PGTT_FL_ONLY : PASID_ENTRY_PGTT_SL_ONLY,
        did: d.did,
        aw: this.ssLevels - 2,
        ptr: d.pgd,
        fl5: false,
        pwsnp: this.ecap.smpwcs,
      },
      this.entry,
    );
    info.pasidTable.write(0, this.entry);
    // pasid_flush_caches: with caching mode, PASID-selective PASID-cache and all of the PASID's IOTLB.
    if (this.cap.cm) {
      const b = new QiBatch();
      b.pasidCache(d.did, 1, 0);
      this.qi.submitSync(b);
      b.piotlb(d.did, 0, 0, 0, false, true);
      this.qi.submitSync(b);
    }
    info.domain = d;
    d.sids.add(info.sid);
  }

  /**
   * intel_pasid_tear_down_entry for RID_PASID: P cleared, then PASID-cache (PASID-selective), the
   * domain's IOTLB (all of the PASID for first stage, domain-selective for second stage), the entry zeroed.
   */
  detachDevice(info: DeviceDomainInfo): void {
    const d = info.domain;
    if (!d) return;
    info.pasidTable.read(0, this.entry);
    this.entry[0] = (this.entry[0]! & ~1) >>> 0;
    info.pasidTable.write(0, this.entry);
    const b = new QiBatch();
    b.pasidCache(d.did, 1, 0);
    this.qi.submitSync(b);
    if (d.stage === 'first') b.piotlb(d.did, 0, 0, 0, false, true);
    else b.iotlb(d.did, 2, 0, 0, false, this.cap.drd && this.cap.dwd);
    this.qi.submitSync(b);
    info.pasidTable.write(0, this.entry.fill(0));
    d.sids.delete(info.sid);
    info.domain = null;
  }
}
