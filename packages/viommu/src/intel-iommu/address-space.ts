// VTDAddressSpace of an assigned device: which memory its container shows (guest RAM at GPA, or the shadow of
// the guest's table), the PASID cache entry of its RID_PASID, and the shadow sync (vtd_address_space_sync).
import { PASID_ENTRY_PGTT_PT, VTD_FR_SM_CTX_P } from '@iommu-lab/hw-vtd/format';
import type { VmDevice } from '../vm/vm.js';
import type { HostFaultQueue } from '../vm/host-fault-queue.js';
import type { HostIommuDevice } from '../vm/viommu-model.js';
import { IovaTree } from './iova-tree.js';
import { IOMMU_WO, type PageWalkInfo, pageWalkLevel, type ShadowNotifier, unmapAll } from './shadow.js';
import type { VtdState } from './state.js';
import { devToContextEntry, pe } from './structures.js';

export class VtdAddressSpace {
  readonly bus: number;
  readonly devfn: number;
  /** PCI_NO_PASID: the address space of requests without PASID (RID_PASID in scalable mode). */
  readonly pasid = -1;
  /** The PASID cache entry: the guest's PASID entry as last synced. */
  pcValid = false;
  readonly pcEntry = new Uint32Array(16);
  /** The nested (stage-1) HWPT bound for the guest's first-stage table, 0 when none. */
  fsHwptId = 0;
  /** iommu-lab fault extension: the VT-d vIOMMU the nested HWPTs are allocated over (0: none) and its vEVENTQ fd. */
  labViommuId = 0;
  labEventFd = -1;
  /** The device's iommufd FAULT queue (vSVA page requests), allocated on the first PASID bind. */
  faultQueue: HostFaultQueue | null = null;
  /** The IOMMU memory region is enabled: the container holds the shadow, and the MAP notifier is registered. */
  useIommu = false;
  readonly tree = new IovaTree();
  private readonly ce = new Uint32Array(8);
  private readonly pe = new Uint32Array(16);
  private readonly walk: PageWalkInfo;

  constructor(
    private readonly s: VtdState,
    readonly hiod: HostIommuDevice,
  ) {
    this.bus = hiod.guestRid >>> 8;
    this.devfn = hiod.guestRid & 0xff;
    const notifier: ShadowNotifier = {
      map: (iova, gpa, pages, perm) => {
        // vfio_iommu_map_notify: a translation outside guest RAM is not mapped ("iommu map to non memory area").
        if (!s.vm.ram.contains(gpa * 4096, pages * 4096)) return;
        this.dev.container.mapShadow(BigInt(iova) * 4096n, gpa * 4096, pages * 4096, (perm & IOMMU_WO) === 0);
      },
      unmap: (iova, pages) => this.dev.container.unmapShadow(BigInt(iova) * 4096n, BigInt(pages) * 4096n),
    };
    this.walk = { tree: this.tree, notifier, notifyUnmap: true, aw: s.cfg.awBits };
  }

  get sid(): number {
    return (this.bus << 8) | this.devfn;
  }

  get dev(): VmDevice {
    return this.hiod.dev!;
  }

  /** vtd_dev_to_context_entry for this device into this.ce; 0 or the fault reason. */
  contextEntry(): number {
    return devToContextEntry(this.s.vm.ram, this.s.root, this.s.structCfg, this.bus, this.devfn, this.ce, this.pe);
  }

  /** The context entry into `out` (8 words); 0 or the fault reason. */
  contextWords(out: Uint32Array): number {
    const r = this.contextEntry();
    out.set(this.ce);
    return r;
  }

  /** vtd_dev_get_pe_from_pasid: the guest's RID_PASID entry into `out`; 0 or the fault reason. */
  pasidEntry(out: Uint32Array): number {
    if (!this.s.rootScalable) return -1;
    // The context lookup's RID_PASID check (vtd_ce_pasid_0_check) has just read the entry into this.pe.
    const r = this.contextEntry();
    if (r === 0 && out !== this.pe) out.set(this.pe);
    return r;
  }

  /** The DID of the PASID entry that translates this address space, or -1 when none is valid. */
  domainId(): number {
    return this.pasidEntry(this.pe) === 0 ? pe.did(this.pe) : -1;
  }

  /** vtd_as_pt_enabled: the PASID entry says pass-through. */
  private ptEnabled(): boolean {
    return this.pasidEntry(this.pe) === 0 && pe.pgtt(this.pe) === PASID_ENTRY_PGTT_PT;
  }

  /** vtd_switch_address_space: guest RAM at GPA (DMAR off, pass-through, or nested) or the shadow of the guest table. */
  switchAddressSpace(): boolean {
    let useIommu = this.s.dmarEnabled && !this.ptEnabled();
    // x-flts with an iommufd device: the default HWPT keeps GPA -> HPA; it is the nest parent or used as is for PT.
    if (this.s.rootScalable && this.s.cfg.fsts && this.hiod.kind === 'iommufd') useIommu = false;
    if (useIommu === this.useIommu) return useIommu;
    const c = this.dev.container;
    if (useIommu) {
      // vfio_listener_region_del of the RAM sections, region_add of the IOMMU region: notifier + replay.
      c.unmapRam();
      this.useIommu = true;
      this.replay();
    } else {
      // The IOMMU region goes (its whole range is unmapped), the RAM sections come back.
      this.useIommu = false;
      this.tree.clear();
      c.unmapAll();
      c.mapRam();
    }
    return useIommu;
  }

  /** vtd_iommu_replay: the current guest table into the notifier, without UNMAP events. */
  replay(): void {
    this.tree.clear();
    if (this.contextEntry() !== 0) return;
    this.walkRange(0, Number.MAX_SAFE_INTEGER, false);
  }

  /** vtd_address_space_sync: a full resync; a context entry gone means everything is unmapped. */
  sync(): void {
    if (!this.useIommu) return;
    const r = this.contextEntry();
    if (r === VTD_FR_SM_CTX_P) return this.unmapNotifier();
    if (r !== 0) return;
    this.walkRange(0, Number.MAX_SAFE_INTEGER, true);
  }

  /** vtd_sync_shadow_page_table_range over pages [pfn, pfn + pages). */
  syncRange(pfn: number, pages: number): void {
    if (!this.useIommu || this.contextEntry() !== 0) return;
    this.walkRange(pfn, pfn + pages, true);
  }

  /** vtd_address_space_unmap of the notifier. */
  unmapNotifier(): void {
    if (this.useIommu) unmapAll(this.walk);
  }

  /**
   * vtd_page_walk: from the PASID entry's second-stage table, clamped to the smaller of MGAW and the entry's AW.
   * The caller's successful contextEntry() left the RID_PASID entry in this.pe.
   */
  private walkRange(start: number, end: number, notifyUnmap: boolean): void {
    const agaw = 30 + 9 * pe.aw(this.pe);
    const limit = 2 ** (Math.min(agaw, this.s.cfg.awBits) - 12);
    if (start >= limit) return;
    this.walk.notifyUnmap = notifyUnmap;
    const tp = this.s.tp.walk;
    if (tp.enabled) tp.emit({ dev: this.hiod.name, start: `0x${(start * 4096).toString(16)}`, pages: Math.min(end, limit) - start, unmaps: notifyUnmap });
    pageWalkLevel(this.s.vm.ram, this.walk, pe.ssptptr(this.pe), start, Math.min(end, limit), pe.ssLevel(this.pe), true, true);
  }
}
