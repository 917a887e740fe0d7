// The guest's shared virtual addressing (Linux iommu-sva.c with the IOASID allocator, io-pgfault.c), whatever the
// IOMMU: processes bound to device PASIDs, the mm's PASID from the guest's IOASID allocator, I/O page faults handled
// in the process's page tables, unbind, munmap and exit. The vendor driver (intel/sva.ts, arm/sva.ts) installs the
// process's tables at the PASID and flushes them.
import { INVALID_IOASID, IoasidAllocator, type IoasidSet } from '@iommu-lab/ioasid';
import { ErrnoError, PAGE_SIZE } from '@iommu-lab/platform';
import type { Vm, VmDevice } from '../vm/vm.js';
import { svaMemfill, type SvaDmaResult } from './idxd-sva.js';
import { GuestSvmError } from './intel/svm.js';
import { type GuestProcessMm, IOMMU_PASID_INVALID, type MmFaultResult } from './mm.js';

/** IOMMU_FIRST_GLOBAL_PASID: PASID 0 is the RID's. */
export const SVA_PASID_MIN = 1;

/** An I/O page fault as the guest's handler saw it: its device, RID, PASID, the process and its address. */
export interface GuestIopfRecord {
  dev: string;
  sid: number;
  pasid: number;
  pid: number;
  addr: bigint;
  write: boolean;
  /** handle_mm_fault's outcome, or 'no-bond' when no process is bound at the PASID. */
  result: MmFaultResult | 'no-bond';
}

/** A device as SVA sees it: its RID/StreamID (what bonds and page requests name) and PASIDs [1, pasidLimit). */
export interface SvaDevice {
  readonly dev: VmDevice;
  readonly sid: number;
  readonly pasidLimit: number;
}

/** The vendor half: the CPU's table format, the SVA domain at a PASID (set/remove_dev_pasid), the mmu notifier. */
export interface SvaIommuDriver<M extends GuestProcessMm, D extends SvaDevice> {
  newMm(pid: number): M;
  /** The device by its VFIO id; RangeError when the IOMMU has no such device. */
  device(devId: string): D;
  setDevPasid(d: D, pasid: number, mm: M): void;
  removeDevPasid(d: D, pasid: number, mm: M): void;
  /** arch_invalidate_secondary_tlbs for pages [firstPfn, lastPfn] of the process. */
  invalidateRange(d: D, pasid: number, mm: M, firstPfn: number, lastPfn: number): void;
}

interface Bond<M, D> {
  readonly d: D;
  readonly mm: M;
}

export class IommuSva<M extends GuestProcessMm, D extends SvaDevice> {
  /** The guest kernel's IOASID allocator and the set SVA PASIDs come from (iommu_sva_pasid). */
  readonly ioasid = new IoasidAllocator();
  readonly set: IoasidSet;
  readonly faults: GuestIopfRecord[] = [];
  private readonly bonds = new Map<string, Bond<M, D>>();
  private nextPid = 1000;

  constructor(
    protected readonly vm: Vm,
    protected readonly driver: SvaIommuDriver<M, D>,
  ) {
    this.set = this.ioasid.allocSet({ quota: 0 });
  }

  /** What this guest lacks for SVA with page faults (the vIOMMU options to add), or null. */
  unmet(): string | null {
    return null;
  }

  /** A new process: its own page tables in guest RAM. */
  spawn(): M {
    return this.driver.newMm(this.nextPid++);
  }

  /** iommu_sva_bind_device: the mm's PASID (allocated on first bind), then the SVA domain at that PASID. */
  bind(devId: string, mm: M): number {
    const d = this.driver.device(devId);
    const fresh = mm.pasid === IOMMU_PASID_INVALID;
    if (fresh) {
      try {
        mm.pasid = this.ioasid.alloc(this.set, SVA_PASID_MIN, d.pasidLimit - 1, mm);
      } catch (e) {
        if (e instanceof ErrnoError) throw new GuestSvmError(e.code, `no PASID for pid ${mm.pid}`);
        throw e;
      }
    }
    try {
      this.driver.setDevPasid(d, mm.pasid, mm);
    } catch (e) {
      if (fresh) this.dropPasid(mm);
      throw e;
    }
    this.bonds.set(`${d.sid}:${mm.pasid}`, { d, mm });
    return mm.pasid;
  }

  /** iommu_sva_unbind_device: the SVA domain leaves the PASID (the driver's tear-down and flushes); the mm keeps its PASID. */
  unbind(devId: string, mm: M): void {
    const key = `${this.driver.device(devId).sid}:${mm.pasid}`;
    const b = this.bonds.get(key);
    if (!b) return;
    this.driver.removeDevPasid(b.d, mm.pasid, mm);
    this.bonds.delete(key);
  }

  /** A process exits: its bonds undone, its PASID freed (mm_pasid_drop), its memory freed. */
  exit(mm: M): void {
    for (const [key, b] of [...this.bonds]) {
      if (b.mm !== mm) continue;
      this.driver.removeDevPasid(b.d, mm.pasid, mm);
      this.bonds.delete(key);
    }
    this.dropPasid(mm);
    mm.exit();
  }

  private dropPasid(mm: M): void {
    if (mm.pasid === IOMMU_PASID_INVALID || mm.pasid === INVALID_IOASID) return;
    this.ioasid.free(this.set, mm.pasid);
    mm.pasid = IOMMU_PASID_INVALID;
  }

  /** munmap: the pages leave the process, and the mmu notifier flushes the PASID on every bound device. */
  munmap(mm: M, va: number, bytes: number): void {
    mm.zap(va, bytes);
    const first = Math.floor(va / PAGE_SIZE);
    const last = Math.ceil((va + bytes) / PAGE_SIZE) - 1;
    for (const b of this.bonds.values()) if (b.mm === mm) this.driver.invalidateRange(b.d, mm.pasid, mm, first, last);
  }

  /** iommu_sva_handle_iopf: the page brought into the process bound at (sid, pasid), recorded with its outcome. */
  protected handleIopf(sid: number, pasid: number, addr: bigint, write: boolean): GuestIopfRecord['result'] {
    const b = pasid >= 0 ? this.bonds.get(`${sid}:${pasid}`) : undefined;
    const result = b ? b.mm.handleMmFault(Number(addr / 4096n), write) : 'no-bond';
    this.faults.push({ dev: b?.d.dev.vfio.id ?? '?', sid, pasid, pid: b?.mm.pid ?? -1, addr, write, result });
    return result;
  }

  /**
   * The process has the device fill [va, va + len) of its memory with a pattern, through its PASID (the PASID it
   * holds, bound or not: an unbound PASID faults). Every byte is checked (vm.stats.dataErrors).
   */
  memfill(devId: string, mm: M, va: number, len: number, pattern: bigint): SvaDmaResult {
    const { dev } = this.driver.device(devId);
    if (mm.pasid === IOMMU_PASID_INVALID) throw new RangeError(`pid ${mm.pid} has no PASID`);
    return svaMemfill(dev.vfio.engine, this.vm.ram, this.vm.stats, mm, mm.pasid, va, len, pattern);
  }

  /** The process bound at (device, PASID), if any. */
  bondOf(devId: string, pasid: number): M | undefined {
    return this.bonds.get(`${this.driver.device(devId).sid}:${pasid}`)?.mm;
  }
}
