// The guest kernel: boots on a VM, brings up its intel-iommu driver when the machine has the unit (the ACPI DMAR
// table names it at 0xfed90000), gives each assigned device a DMA API and a DSA driver, and checks what DMA did.
import { PAGE_SIZE } from '@iommu-lab/platform';
import { DSA_COMP_SUCCESS } from '@iommu-lab/vfio';
import { VIRT_SMMU_BASE } from '../arm-smmuv3/regs.js';
import { Q35_HOST_BRIDGE_IOMMU_ADDR } from '../intel-iommu/regs.js';
import type { Vm, VmDevice } from '../vm/vm.js';
import { dumpDeviceTranslation } from './debugfs.js';
import { ArmSmmuGuest } from './arm/smmu.js';
import { ArmSmmuSva } from './arm/sva.js';
import { type FlushMode, GuestDmaApi } from './dma-iommu.js';
import { DSA_COMP_PAGE_FAULT_NOBOF, type DsaResult, IdxdGuestDevice } from './idxd.js';
import type { GuestDmarFault } from './intel/fault.js';
import { IntelIommuGuest } from './intel/iommu.js';
import { GuestSva } from './intel/sva.js';
import type { IommuSva, SvaDevice } from './iommu-sva.js';
import type { GuestProcessMm } from './mm.js';
import { GuestPageAllocator } from './page-alloc.js';

export interface GuestOptions {
  /** iommu.strict=1 ('strict') or Linux's default flush queue ('lazy', the default). */
  flush?: FlushMode;
}

/** A DMA the device reported as faulted (its completion record), in the guest's terms. */
export interface GuestDmaFault {
  dev: string;
  iova: bigint;
  write: boolean;
}

export class Guest {
  readonly pages: GuestPageAllocator;
  readonly iommu: IntelIommuGuest | null;
  /** The arm-smmu-v3 driver when the machine has an arm-smmuv3 (the IORT names it). */
  readonly smmu: ArmSmmuGuest | null;
  readonly flush: FlushMode;
  /** Shared virtual addressing: processes bound to device PASIDs (with the intel-iommu driver). */
  readonly sva: GuestSva | null;
  /** The same with the arm-smmu-v3 driver: AArch64 processes at SubstreamIDs of the masters' CD tables. */
  readonly armSva: ArmSmmuSva | null;
  private readonly apis = new Map<string, GuestDmaApi>();
  private readonly dsa = new Map<string, IdxdGuestDevice>();
  /** Faults the devices reported in completion records. */
  readonly dmaFaults: GuestDmaFault[] = [];

  constructor(
    readonly vm: Vm,
    opts: GuestOptions = {},
  ) {
    this.flush = opts.flush ?? 'lazy';
    this.pages = new GuestPageAllocator(vm.ram);
    const dmar = vm.viommu?.name === 'intel-iommu';
    this.iommu = dmar ? new IntelIommuGuest(vm, this.pages, Q35_HOST_BRIDGE_IOMMU_ADDR) : null;
    this.iommu?.init();
    this.smmu = vm.viommu?.name === 'arm-smmuv3' ? new ArmSmmuGuest(vm, this.pages, VIRT_SMMU_BASE) : null;
    for (const dev of vm.devices) this.probe(dev);
    this.iommu?.enableTranslation();
    for (const dev of vm.devices) this.dsa.set(dev.vfio.id, new IdxdGuestDevice(dev.vfio.engine, this.apis.get(dev.vfio.id)!, vm.ram, this.pages));
    this.sva = this.iommu ? new GuestSva(vm.devices, this.iommu, this.pages) : null;
    this.armSva = this.smmu ? new ArmSmmuSva(vm.devices, this.smmu, this.pages) : null;
  }

  /** SVA on whichever IOMMU the guest drives (what the sva workload uses). */
  get iommuSva(): IommuSva<GuestProcessMm, SvaDevice> | null {
    return this.sva ?? this.armSva;
  }

  /** The device's default DMA domain and its DMA API (an identity dma-direct without an IOMMU). */
  private probe(dev: VmDevice): void {
    const iommu = this.iommu;
    if (this.smmu) return void this.apis.set(dev.vfio.id, this.smmu.dmaApi(dev, this.flush));
    if (!iommu) {
      this.apis.set(dev.vfio.id, new GuestDmaApi(null, null, this.flush, 0));
      return;
    }
    const info = iommu.probeDevice(dev.vfio.guestRid, dev.vfio.host.pasidBits, { ats: dev.vfio.host.ats, pri: dev.vfio.host.pri });
    const domain = iommu.allocDomain();
    iommu.attachDevice(info, domain);
    // Aperture: first stage covers the lower canonical half (2^47), second stage 2^MGAW... of its levels.
    const bits = domain.stage === 'first' ? 47 : Math.min(iommu.cap.mgaw + 1, 12 + 9 * domain.levels);
    this.apis.set(dev.vfio.id, new GuestDmaApi(domain, iommu.tags, this.flush, 2 ** (bits - 12)));
  }

  /** The VM's device by id ("vfio0" or -device ...,id=NAME); the first one by default. */
  device(id?: string): VmDevice {
    if (id === undefined) {
      const d = this.vm.devices[0];
      if (!d) throw new RangeError('the VM has no assigned device');
      return d;
    }
    return this.vm.device(id);
  }

  /** The device's DMA API (map/unmap/flushQueue). */
  dma(id?: string): GuestDmaApi {
    return this.apis.get(this.device(id).vfio.id)!;
  }

  /** Allocates zeroed guest memory; returns its GPA (page aligned, or aligned to `align` bytes). */
  alloc(bytes: number, align = PAGE_SIZE): number {
    return this.pages.alloc(Math.max(1, Math.ceil(bytes / PAGE_SIZE)), Math.max(1, Math.ceil(align / PAGE_SIZE)));
  }

  free(gpa: number, bytes: number): void {
    this.pages.free(gpa, Math.max(1, Math.ceil(bytes / PAGE_SIZE)));
  }

  /** Fills guest memory with a pattern derived from `seed` (the CPU's stores; no exit). */
  fillPattern(gpa: number, bytes: number, seed: number): void {
    const b = new Uint8Array(bytes);
    let x = (seed | 0) ^ 0x9e37_79b9;
    for (let i = 0; i < bytes; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
      b[i + 1] = (x >>> 8) & 0xff;
      b[i + 2] = (x >>> 16) & 0xff;
      b[i + 3] = (x >>> 24) & 0xff;
    }
    this.vm.ram.write(gpa, b);
  }

  /** The device copies len bytes from srcIova to dstIova; the guest then checks every byte at the destination. */
  memmove(id: string | undefined, dstIova: number, srcIova: number, len: number): boolean {
    const dev = this.device(id);
    const r = this.dsa.get(dev.vfio.id)!.memmove(dstIova, srcIova, len);
    if (!this.account(dev, r)) return false;
    const api = this.apis.get(dev.vfio.id)!;
    this.vm.stats.dataErrors += this.check(api, dstIova, srcIova, len, (dst, n, off) => this.vm.ram.countDiff(dst, this.gpaAt(api, srcIova + off), n));
    return true;
  }

  /** The device fills len bytes at dstIova with the 8-byte pattern; the guest checks them. */
  memfill(id: string | undefined, dstIova: number, len: number, pattern: bigint): boolean {
    const dev = this.device(id);
    const r = this.dsa.get(dev.vfio.id)!.memfill(dstIova, len, pattern);
    if (!this.account(dev, r)) return false;
    const api = this.apis.get(dev.vfio.id)!;
    const p = BigInt.asUintN(64, pattern);
    const lo = Number(p & 0xffff_ffffn);
    const hi = Number(p >> 32n);
    // The pattern repeats from the start of the transfer: a piece at `off` starts at its byte off % 8.
    this.vm.stats.dataErrors += this.check(api, dstIova, -1, len, (dst, n, off) => this.vm.ram.countPatternDiff(dst, n, lo, hi, off));
    return true;
  }

  /** Every assigned device's flush queue flushed (the flush-queue timer firing). */
  flushQueue(): void {
    for (const api of this.apis.values()) api.flushQueue();
  }

  /** The IOMMU faults the guest's DMAR fault handler logged. */
  get faults(): readonly GuestDmarFault[] {
    return this.smmu?.faults ?? this.iommu?.fault.log ?? [];
  }

  /** The guest's debugfs view of a device's PASID (0 = RID_PASID): its entries and its page table. */
  dump(id?: string, pasid = 0): string {
    return this.smmu ? this.smmu.dump(this.device(id), pasid) : dumpDeviceTranslation(this, this.device(id), pasid);
  }

  private account(dev: VmDevice, r: DsaResult): boolean {
    this.vm.stats.dmaOps += r.descriptors;
    if (r.status === DSA_COMP_SUCCESS) return true;
    if (r.status !== DSA_COMP_PAGE_FAULT_NOBOF && r.status !== 0) throw new Error(`DSA on ${dev.vfio.id}: completion status 0x${r.status.toString(16)}`);
    this.vm.stats.dmaFaults++;
    // While the driver handles the error, the VMM's main loop runs: host fault events reach the vIOMMU.
    this.vm.mainLoop();
    if (r.status === DSA_COMP_PAGE_FAULT_NOBOF) {
      this.dmaFaults.push({ dev: dev.vfio.id, iova: r.faultAddr, write: r.write });
      return false;
    }
    // No record at all: the device could not write its completion record (a fault on that write).
    this.dmaFaults.push({ dev: dev.vfio.id, iova: BigInt(this.dsa.get(dev.vfio.id)!.crIova), write: true });
    return false;
  }

  private gpaAt(api: GuestDmaApi, iova: number): number {
    const pfn = api.gpaPfnOf(Math.floor(iova / PAGE_SIZE));
    if (pfn < 0) throw new RangeError(`IOVA 0x${iova.toString(16)} is not mapped by the guest`);
    return pfn * PAGE_SIZE + (iova % PAGE_SIZE);
  }

  /** Runs `cmp` over pieces that cross no page of the destination (nor of the source, if any); sums mismatches. */
  private check(api: GuestDmaApi, iova: number, srcIova: number, len: number, cmp: (dstGpa: number, n: number, off: number) => number): number {
    let errors = 0;
    for (let off = 0; off < len; ) {
      const a = iova + off;
      let n = Math.min(len - off, PAGE_SIZE - (a % PAGE_SIZE));
      if (srcIova >= 0) n = Math.min(n, PAGE_SIZE - ((srcIova + off) % PAGE_SIZE));
      errors += cmp(this.gpaAt(api, a), n, off);
      off += n;
    }
    return errors;
  }
}

/** Boots the guest kernel on a VM: `const g = bootGuest(vm, { flush: 'strict' })`. */
export function bootGuest(vm: Vm, opts: GuestOptions = {}): Guest {
  return new Guest(vm, opts);
}
