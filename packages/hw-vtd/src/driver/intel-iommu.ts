// struct intel_iommu (kernel intel/iommu.c, dmar.c): one remapping unit as the driver sees it, and its bring-up.
import { ErrnoError, type FrameAllocator, type PhysMem } from '@iommu-lab/platform';
import { capNdoms, VtdCap, type VtdCapFields, VtdEcap, type VtdEcapFields } from '../format/cap.js';
import * as R from '../format/registers.js';
import type { DeviceDomainInfo } from './device-info.js';
import { IntelPrq } from './prq.js';
import { type DmarRegs, QI_CC_GLOBAL, QI_IOTLB_GLOBAL, QI_PC_GLOBAL, QueuedInvalidation } from './qi.js';

/** FLPT_DEFAULT_DID: first-stage-only and pass-through PASID entries; IDA_START_DID: the first DID a domain gets. */
export const FLPT_DEFAULT_DID = 1;
export const IDA_START_DID = 2;

export class IntelIommu {
  readonly cap: bigint;
  readonly ecap: bigint;
  readonly c: VtdCapFields;
  readonly e: VtdEcapFields;
  /** iommu->agaw: the widest second-stage AGAW in SAGAW (1 = 39-bit, 2 = 48-bit, 3 = 57-bit). */
  readonly agaw: number;
  readonly ndoms: number;
  /** The driver's copy of GCMD's level bits (iommu->gcmd). */
  gcmd = 0;
  rootPfn = -1;
  readonly qi: QueuedInvalidation;
  /** The page request queue when ECAP.PRS (iommu->prq). */
  prq: IntelPrq | null = null;
  /** device_rbtree: ATS-capable devices by RID, for page requests. */
  readonly devicesByRid = new Map<number, DeviceDomainInfo>();
  private readonly dids: Uint8Array;

  constructor(
    readonly name: string,
    readonly regs: DmarRegs,
    readonly mem: PhysMem,
    readonly frames: FrameAllocator,
  ) {
    this.cap = regs.read64(R.DMAR_CAP_REG);
    this.ecap = regs.read64(R.DMAR_ECAP_REG);
    this.c = VtdCap.decode([this.cap]);
    this.e = VtdEcap.decode([this.ecap]);
    this.agaw = this.c.sagaw & 8 ? 3 : this.c.sagaw & 4 ? 2 : this.c.sagaw & 2 ? 1 : 0;
    this.ndoms = capNdoms(this.cap);
    this.dids = new Uint8Array(this.ndoms);
    this.qi = new QueuedInvalidation(regs, mem, frames);
  }

  // The kernel's capability predicates (intel/iommu.h).
  get sm(): boolean {
    return this.e.smts;
  }
  get pasidSupported(): boolean {
    return this.sm && this.e.pasid;
  }
  get nestedSupported(): boolean {
    return this.sm && this.e.nest;
  }
  get ssadsSupported(): boolean {
    return this.sm && this.e.ssads;
  }
  /** iommu->max_pasids: 2^(PSS + 1) when PASIDs are supported. */
  get maxPasids(): number {
    return this.pasidSupported ? 2 ** (this.e.pss + 1) : 0;
  }

  /** init_dmars for one unit: root table, queued invalidation, global flushes, then translation on. */
  init(): void {
    this.rootPfn = this.frames.allocFrame();
    this.regs.write64(R.DMAR_RTADDR_REG, BigInt(this.rootPfn) * 4096n | (this.sm ? R.DMA_RTADDR_SMT : 0n));
    this.regs.write32(R.DMAR_GCMD_REG, this.gcmd | R.DMA_GCMD_SRTP);
    if ((this.regs.read32(R.DMAR_GSTS_REG) & R.DMA_GSTS_RTPS) === 0) throw new Error(`${this.name}: root table pointer not latched`);
    this.qi.program();
    this.enable(R.DMA_GCMD_QIE, R.DMA_GSTS_QIES);
    this.qi.flushContext(0, 0, 0, QI_CC_GLOBAL);
    if (this.sm) this.qi.flushPasidCache(0, QI_PC_GLOBAL, 0);
    this.qi.submitSync([this.qi.iotlbDesc(0, 0n, 0, QI_IOTLB_GLOBAL, false, this.c.dwd)]);
    this.regs.write32(R.DMAR_FECTL_REG, 0);
    if (this.e.prs) {
      this.prq = new IntelPrq(this);
      this.prq.enable();
    }
    this.enable(R.DMA_GCMD_TE, R.DMA_GSTS_TES);
  }

  private enable(cmd: number, status: number): void {
    this.gcmd = (this.gcmd | cmd) >>> 0;
    this.regs.write32(R.DMAR_GCMD_REG, this.gcmd);
    if ((this.regs.read32(R.DMAR_GSTS_REG) & status) === 0) throw new Error(`${this.name}: GSTS did not follow GCMD 0x${cmd.toString(16)}`);
  }

  get translationEnabled(): boolean {
    return (this.gcmd & R.DMA_GCMD_TE) !== 0;
  }

  /** ida_alloc_range(IDA_START_DID, ndoms - 1): the lowest free domain ID, ENOSPC when none is left. */
  allocDid(): number {
    for (let d = IDA_START_DID; d < this.ndoms; d++) {
      if (this.dids[d] === 0) {
        this.dids[d] = 1;
        return d;
      }
    }
    throw new ErrnoError('ENOSPC', 'ioctl', `${this.name}: no free domain IDs`);
  }

  freeDid(did: number): void {
    this.dids[did] = 0;
  }

  get didsInUse(): number {
    return this.dids.reduce((n, x) => n + x, 0);
  }

  /** iommu_context_addr in scalable mode: the 32-byte context entry of (bus, devfn), allocating its table if asked; -1 if absent. */
  contextAddr(bus: number, devfn: number, alloc: boolean): number {
    const upper = devfn >= 0x80;
    const rootPa = this.rootPfn * 4096 + bus * 16 + (upper ? 8 : 0);
    let half = this.mem.u64(rootPa);
    if ((half & 1n) === 0n) {
      if (!alloc) return -1;
      half = (BigInt(this.frames.allocFrame()) << 12n) | 1n;
      this.mem.setU64(rootPa, half);
    }
    return Number(half & ~0xfffn) + (devfn & 0x7f) * 32;
  }

  /** iommu_flush_write_buffer: only when CAP.RWBF asks for it. */
  flushWriteBuffer(): void {
    if (!this.c.rwbf) return;
    this.regs.write32(R.DMAR_GCMD_REG, this.gcmd | R.DMA_GCMD_WBF);
  }

  /** iommu->flush.flush_iotlb through the queue. */
  flushIotlb(did: number, addr: bigint, sizeOrder: number, g: number, ih = false): number {
    return this.qi.submitSync([this.qi.iotlbDesc(did, addr, sizeOrder, g, ih, this.c.dwd)]);
  }

  /** qi_flush_piotlb_all. */
  flushPiotlbAll(did: number, pasid: number): number {
    return this.qi.submitSync([this.qi.piotlbDesc(did, pasid, 0n, 0, false, true)]);
  }
}
