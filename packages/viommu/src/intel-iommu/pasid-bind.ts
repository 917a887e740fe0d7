// vSVA: guest PASID entries other than RID_PASID, bound to the host (the per-PASID part of vtd_pasid_cache_sync in
// the vSVA series). A present first-stage entry at PASID p of an assigned device becomes a nested VTD_S1 HWPT whose
// pgtbl_addr is the entry's FSPTPTR (a guest process's CR3), with the device's fault queue, attached at p; an entry
// gone detaches p and frees the HWPT. Only PASIDs the VM got through VCMD may be bound.
import { IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 } from '@iommu-lab/iommu-core';
import { PASID_ENTRY_PGTT_FL_ONLY } from '@iommu-lab/hw-vtd/format';
import { vtdS1Data, vtdS1Invalidate } from './accel.js';
import type { VtdAddressSpace } from './address-space.js';
import { PC_DSI, PC_PASID_SI } from './invalidate.js';
import type { VtdPageFaults } from './page-fault.js';
import type { VmPasids } from './pasid-alloc.js';
import type { VtdState } from './state.js';
import { ce, ceGetPasidEntry, pe, PASID_0, samePasidEntry } from './structures.js';

/** One guest PASID bound on the host: the entry as last synced and the nested HWPT attached at the PASID. */
export interface VtdPasidBind {
  readonly as: VtdAddressSpace;
  readonly pasid: number;
  readonly entry: Uint32Array;
  hwptId: number;
}

export class VtdSva {
  readonly binds = new Map<string, VtdPasidBind>();
  /** Binds made, replaced and undone (host HWPTs allocated and freed in step). */
  bound = 0;
  unbound = 0;
  private readonly ctx = new Uint32Array(8);
  private readonly scratch = new Uint32Array(16);
  private readonly dirEntry = new Uint32Array(2);
  private readonly leaf = new Uint32Array(2);

  constructor(
    private readonly s: VtdState,
    private readonly faults: VtdPageFaults,
    private readonly pasids: () => VmPasids,
  ) {}

  /** PASID-cache invalidation: PASID-selective looks at one PASID; domain-selective and global walk the guest tables. */
  pasidCacheSync(type: number, did: number, pasid: number): void {
    for (const as of this.s.spaces) {
      if (as.hiod.kind !== 'iommufd') continue;
      if (type === PC_PASID_SI) {
        if (pasid !== PASID_0) this.syncOne(as, pasid, type, did);
        continue;
      }
      const seen = new Set<number>();
      for (const p of this.presentPasids(as)) {
        seen.add(p);
        this.syncOne(as, p, type, did);
      }
      for (const b of [...this.binds.values()]) if (b.as === as && !seen.has(b.pasid)) this.syncOne(as, b.pasid, type, did);
    }
  }

  /** vtd_pasid_cache_sync for one (device, PASID): bind, replace or unbind as the guest entry now says. */
  private syncOne(as: VtdAddressSpace, pasid: number, type: number, did: number): void {
    const key = `${as.sid}:${pasid}`;
    const cur = this.binds.get(key);
    const valid = this.readEntry(as, pasid);
    if (!valid) {
      if (cur) this.unbind(cur);
      return;
    }
    if (type === PC_PASID_SI || type === PC_DSI) {
      if ((cur ? pe.did(cur.entry) : pe.did(this.scratch)) !== did) return;
    }
    if (cur && samePasidEntry(cur.entry, this.scratch)) return;
    this.bind(as, pasid, cur);
  }

  /** The guest entry at (device, PASID) into scratch; false when it is absent or invalid. */
  private readEntry(as: VtdAddressSpace, pasid: number): boolean {
    if (as.contextWords(this.ctx) !== 0) return false;
    return ceGetPasidEntry(this.s.vm.ram, this.s.structCfg, this.ctx, pasid, this.scratch) === 0;
  }

  /** PASIDs other than 0 with a present entry in the device's guest PASID table (present directory entries only). */
  private presentPasids(as: VtdAddressSpace): number[] {
    const out: number[] = [];
    if (as.contextWords(this.ctx) !== 0 || !ce.present(this.ctx)) return out;
    const ram = this.s.vm.ram;
    const dir = ce.pasidDir(this.ctx);
    const dirEntries = 2 ** (ce.pdts(this.ctx) + 7);
    for (let d = 0; d < dirEntries; d++) {
      if (!ram.read64(dir + d * 8, this.dirEntry) || (this.dirEntry[0]! & 1) === 0) continue;
      const table = (this.dirEntry[0]! >>> 12) * 4096 + this.dirEntry[1]! * 2 ** 32;
      for (let i = 0; i < 64; i++) {
        const p = d * 64 + i;
        if (p !== PASID_0 && ram.read64(table + i * 64, this.leaf) && (this.leaf[0]! & 1) !== 0) out.push(p);
      }
    }
    return out;
  }

  private bind(as: VtdAddressSpace, pasid: number, cur: VtdPasidBind | undefined): void {
    const w = this.scratch;
    const prefix = cur ? 'Replacing PASID HWPT failed: ' : 'Attaching PASID HWPT failed: ';
    if (!this.pasids().owns(pasid)) return this.refuse(`${prefix}PASID ${pasid} was not allocated to this VM`, cur);
    if (pe.pgtt(w) !== PASID_ENTRY_PGTT_FL_ONLY) return this.refuse(`${prefix}Invalid PGTT type ${pe.pgtt(w)}`, cur);
    const dev = as.dev;
    const be = dev.vfio.backend;
    const data = vtdS1Data(w);
    let hwpt = 0;
    try {
      const faultId = this.faults.faultId(as);
      hwpt = be.hwptAlloc(dev.vfio.devId, as.labViommuId || dev.defaultHwpt, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_VTD_S1, data, faultId);
      dev.vfio.attachPasid(pasid, hwpt);
    } catch (e) {
      if (hwpt) be.destroy(hwpt);
      return this.refuse(`${prefix}${(e as Error).message}`, cur);
    }
    if (cur) be.destroy(cur.hwptId);
    const b: VtdPasidBind = cur ?? { as, pasid, entry: new Uint32Array(16), hwptId: 0 };
    b.entry.set(w);
    b.hwptId = hwpt;
    this.binds.set(`${as.sid}:${pasid}`, b);
    this.bound++;
    if (this.s.tp.bind.enabled) this.s.tp.bind.emit({ dev: as.hiod.name, pasid, fsptptr: `0x${pe.fsptptr(w).toString(16)}`, hwpt });
  }

  /** A binding the VMM will not make: an error as QEMU reports it; an older binding of the PASID is undone. */
  private refuse(message: string, cur: VtdPasidBind | undefined): void {
    this.s.errors.push(message);
    if (cur) this.unbind(cur);
  }

  private unbind(b: VtdPasidBind): void {
    const vfio = b.as.dev.vfio;
    try {
      vfio.detachPasid(b.pasid);
      vfio.backend.destroy(b.hwptId);
    } catch (e) {
      this.s.errors.push(`Detaching PASID HWPT failed: ${(e as Error).message}`);
    }
    this.binds.delete(`${b.as.sid}:${b.pasid}`);
    this.unbound++;
  }

  /** A PASID the guest freed (VCMD) or the VM lost: unbound on every device. */
  unbindPasid(pasid: number): void {
    for (const b of [...this.binds.values()]) if (b.pasid === pasid) this.unbind(b);
  }

  /** SRTP, TE, reset, teardown: every binding undone. */
  reset(): void {
    for (const b of [...this.binds.values()]) this.unbind(b);
  }

  /** A PASID-based IOTLB invalidation of a bound PASID (not 0) becomes IOMMU_HWPT_INVALIDATE on its HWPT. */
  flushPiotlb(did: number, pasid: number, pfn: number, npages: number, ih: boolean): void {
    if (pasid === PASID_0) return;
    for (const b of this.binds.values()) {
      if (b.pasid !== pasid || pe.did(b.entry) !== did) continue;
      const inv = vtdS1Invalidate(pfn, npages, ih && npages >= 0);
      try {
        b.as.dev.vfio.backend.invalidate(b.hwptId, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, inv.length, inv);
      } catch (e) {
        this.s.errors.push(`IOMMU_HWPT_INVALIDATE failed: ${(e as Error).message}`);
      }
    }
  }
}
