// The guest's shared virtual addressing (Linux iommu-sva.c with the 2020 IOASID allocator, io-pgfault.c): processes
// bound to device PASIDs, the mm's PASID from the guest's IOASID allocator (through VCMD once the VT-d driver
// registered its custom allocator), I/O page faults handled in the process's page tables, unbind and exit.
import { INVALID_IOASID, IoasidAllocator, type IoasidSet } from '@iommu-lab/ioasid';
import { ErrnoError, PAGE_SIZE } from '@iommu-lab/platform';
import { QI_RESP_INVALID, QI_RESP_SUCCESS } from '@iommu-lab/hw-vtd/format';
import type { VmDevice } from '../vm/vm.js';
import { svaMemfill, type SvaDmaResult } from './idxd-sva.js';
import { psiAlignedAddress } from './intel/cache.js';
import type { DeviceDomainInfo, IntelIommuGuest } from './intel/iommu.js';
import { GuestPrq, type GuestPrqRequest } from './intel/prq.js';
import { GuestSvm, GuestSvmError } from './intel/svm.js';
import { intelVcmdAllocator, PASID_MIN, vccapPasid, type VcmdLog } from './intel/vcmd.js';
import { GuestMm, IOMMU_PASID_INVALID } from './mm.js';
import type { GuestPageAllocator } from './page-alloc.js';

/** An I/O page fault as the guest's handler saw it: its device, RID, PASID, the process and its address. */
export interface GuestIopfRecord {
  dev: string;
  sid: number;
  pasid: number;
  pid: number;
  addr: bigint;
  write: boolean;
  /** handle_mm_fault's outcome, or 'no-bond' when no process is bound at the PASID. */
  result: 'ok' | 'segv' | 'no-bond';
}

interface Bond {
  readonly dev: VmDevice;
  readonly info: DeviceDomainInfo;
  readonly mm: GuestMm;
}

export class GuestSva {
  /** The guest kernel's IOASID allocator and the set SVA PASIDs come from (iommu_sva_pasid). */
  readonly ioasid = new IoasidAllocator();
  readonly set: IoasidSet;
  readonly vcmd: VcmdLog = { allocs: 0, frees: 0, errors: [] };
  /** Whether the VT-d driver registered the virtual-command allocator (register_pasid_allocator). */
  readonly enlightened: boolean;
  readonly svm: GuestSvm;
  readonly prq: GuestPrq | null;
  readonly faults: GuestIopfRecord[] = [];
  private readonly bonds = new Map<string, Bond>();
  private nextPid = 1000;

  constructor(
    private readonly devices: readonly VmDevice[],
    private readonly iommu: IntelIommuGuest,
    private readonly pages: GuestPageAllocator,
  ) {
    // register_pasid_allocator: only in a guest (caching mode), in scalable mode, when the vIOMMU allocates PASIDs.
    this.enlightened = iommu.cap.cm && iommu.ecap.smts && iommu.ecap.vcs && vccapPasid(iommu.regs);
    if (this.enlightened) this.ioasid.registerAllocator(intelVcmdAllocator(iommu.regs, this.vcmd, 'dmar0'));
    this.set = this.ioasid.allocSet({ quota: 0 });
    this.svm = new GuestSvm(iommu);
    this.prq = iommu.ecap.prs ? new GuestPrq(iommu.vm, iommu.regs, iommu.qi, pages, (r) => this.iopf(r)) : null;
    this.prq?.enable();
  }

  /** A new process: its own page tables in guest RAM. */
  spawn(): GuestMm {
    return new GuestMm(this.nextPid++, this.iommu.vm.ram, this.pages);
  }

  private device(id: string): { dev: VmDevice; info: DeviceDomainInfo } {
    const dev = this.devices.find((d) => d.vfio.id === id);
    const info = dev && this.iommu.devices.get(dev.vfio.guestRid);
    if (!dev || !info) throw new RangeError(`no device ${id} behind the guest's IOMMU`);
    return { dev, info };
  }

  /** iommu_sva_bind_device: the mm's PASID (allocated on first bind), then the SVA domain at that PASID. */
  bind(devId: string, mm: GuestMm): number {
    const { dev, info } = this.device(devId);
    const fresh = mm.pasid === IOMMU_PASID_INVALID;
    if (fresh) {
      try {
        mm.pasid = this.ioasid.alloc(this.set, PASID_MIN, info.pasidTable.maxPasid - 1, mm);
      } catch (e) {
        if (e instanceof ErrnoError) throw new GuestSvmError(e.code, `no PASID for pid ${mm.pid}`);
        throw e;
      }
    }
    try {
      this.svm.setDevPasid(info, mm.pasid, mm.cr3);
    } catch (e) {
      if (fresh) this.dropPasid(mm);
      throw e;
    }
    this.bonds.set(`${info.sid}:${mm.pasid}`, { dev, info, mm });
    return mm.pasid;
  }

  /** iommu_sva_unbind_device: the PASID entry torn down (its flushes and the page-request drain); the mm keeps its PASID. */
  unbind(devId: string, mm: GuestMm): void {
    const { info } = this.device(devId);
    const key = `${info.sid}:${mm.pasid}`;
    if (!this.bonds.has(key)) return;
    this.svm.removeDevPasid(info, mm.pasid);
    this.bonds.delete(key);
  }

  /** A process exits: its bonds undone, its PASID freed (mm_pasid_drop: back through VCMD), its memory freed. */
  exit(mm: GuestMm): void {
    for (const [key, b] of [...this.bonds]) {
      if (b.mm !== mm) continue;
      this.svm.removeDevPasid(b.info, mm.pasid);
      this.bonds.delete(key);
    }
    this.dropPasid(mm);
    mm.exit();
  }

  private dropPasid(mm: GuestMm): void {
    if (mm.pasid === IOMMU_PASID_INVALID || mm.pasid === INVALID_IOASID) return;
    this.ioasid.free(this.set, mm.pasid);
    mm.pasid = IOMMU_PASID_INVALID;
  }

  /** munmap: the pages leave the process, and the mmu notifier flushes the PASID's IOTLB on every bound device. */
  munmap(mm: GuestMm, va: number, bytes: number): void {
    mm.zap(va, bytes);
    const first = Math.floor(va / PAGE_SIZE);
    const last = Math.ceil((va + bytes) / PAGE_SIZE) - 1;
    for (const b of this.bonds.values()) if (b.mm === mm) this.svm.invalidateRange(b.info, mm.pasid, psiAlignedAddress(first, last));
  }

  /** iommu_sva_handle_iopf: the page brought into the bound process's tables; SUCCESS, or INVALID when it may not be. */
  private iopf(r: GuestPrqRequest): number {
    const b = r.pasid >= 0 ? this.bonds.get(`${r.sid}:${r.pasid}`) : undefined;
    const result = b ? b.mm.handleMmFault(Number(r.addr / 4096n), r.write) : 'no-bond';
    this.faults.push({ dev: b?.dev.vfio.id ?? '?', sid: r.sid, pasid: r.pasid, pid: b?.mm.pid ?? -1, addr: r.addr, write: r.write, result });
    return result === 'ok' ? QI_RESP_SUCCESS : QI_RESP_INVALID;
  }

  /**
   * The process has the device fill [va, va + len) of its memory with a pattern, through its PASID (the PASID it
   * holds, bound or not: an unbound PASID faults). Every byte is checked (vm.stats.dataErrors).
   */
  memfill(devId: string, mm: GuestMm, va: number, len: number, pattern: bigint): SvaDmaResult {
    const { dev } = this.device(devId);
    if (mm.pasid === IOMMU_PASID_INVALID) throw new RangeError(`pid ${mm.pid} has no PASID`);
    const vm = this.iommu.vm;
    return svaMemfill(dev.vfio.engine, vm.ram, vm.stats, mm, mm.pasid, va, len, pattern);
  }

  /** The process bound at (device, PASID), if any. */
  bondOf(devId: string, pasid: number): GuestMm | undefined {
    const { info } = this.device(devId);
    return this.bonds.get(`${info.sid}:${pasid}`)?.mm;
  }
}
