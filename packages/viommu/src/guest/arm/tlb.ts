// The guest's invalidations for a stage-1 domain (Linux arm_smmu_domain_inv_range, arm_smmu_tlb_inv_context):
// TLBI_NH_VA over the range (one range command with IDR3.RIL, else one per granule, or TLBI_NH_ASID when that
// would be too many) followed by a CMD_SYNC; then, in their own batch, ATC_INV for masters with ATS.
import { ATC_INV_SIZE_ALL, CMDQ_OP as OP } from '@iommu-lab/hw-smmuv3/format';
import { CmdBatch } from './cmds.js';
import type { GuestCmdq } from './cmdq.js';
import type { ArmSmmuDomain } from './domain.js';

/** CMDQ_TLBI_RANGE_NUM_MAX: NUM is 5 bits. */
const RANGE_NUM_MAX = 31;
/** The domain's smallest page (inv->pgsize): 4 KiB. */
const TG = 12;

export interface TlbFeatures {
  /** ARM_SMMU_FEAT_RANGE_INV (IDR3.RIL). */
  rangeInv: boolean;
  /** StreamIDs whose ATS is enabled (their ATC is invalidated after the TLB). */
  atsSids: ReadonlySet<number>;
}

/** fls of a page count below 2^52, minus one (ilog2). */
function ilog2(x: number): number {
  return Math.floor(Math.log2(x));
}

/** __ffs: the lowest set bit of x (x > 0, below 2^53). */
function ffs(x: number): number {
  let n = 0;
  while (x % 2 === 0) {
    x /= 2;
    n++;
  }
  return n;
}

/** What an invalidation targets: an ASID, the masters that use it, and the SubstreamID their ATCs cache it under. */
export interface TlbTarget {
  readonly asid: number;
  readonly sids: ReadonlySet<number>;
  /** 0 (no SubstreamID) for DMA domains; the process's PASID for an SVA domain. */
  readonly ssid?: number;
}

export class ArmSmmuTlb {
  private readonly b = new CmdBatch();

  constructor(
    private readonly cmdq: GuestCmdq,
    private readonly f: TlbFeatures,
  ) {}

  /** The batch with room for one more command (a full one is issued first, without a sync). */
  private room(): CmdBatch {
    if (this.b.full) this.cmdq.issue(this.b, false);
    return this.b;
  }

  /** arm_smmu_inv_size_too_big: size 0 means all; without RIL, 512 or more granules become one ASID command. */
  private tooBig(size: number, granule: number): boolean {
    if (size === 0) return true;
    if (this.f.rangeInv) return false;
    return size >= 2 ** (ilog2(granule) - 3) * granule;
  }

  /** arm_smmu_cmdq_batch_add_range for TLBI_NH_VA of the domain's ASID. */
  private addRange(asid: number, leaf: boolean, iovaPfn: number, size: number, granule: number): void {
    const endPfn = iovaPfn + size / 4096;
    let pfn = iovaPfn;
    if (!this.f.rangeInv) {
      for (; pfn < endPfn; pfn += granule / 4096) this.room().tlbiVa(OP.TLBI_NH_VA, asid, 0, 0, 0, leaf, 0, 0, pfn);
      return;
    }
    let numPages = size / 2 ** TG;
    const tgEnc = (TG - 10) / 2;
    let ttl = 0;
    if (leaf) ttl = 4 - Math.floor((ilog2(granule) - 3) / (TG - 3));
    else if (numPages % 2 ** 5 === 1) numPages++;
    while (pfn < endPfn) {
      const scale = ffs(numPages);
      const num = Math.floor(numPages / 2 ** scale) & RANGE_NUM_MAX;
      this.room().tlbiVa(OP.TLBI_NH_VA, asid, 0, num - 1, scale, leaf, ttl, tgEnc, pfn);
      pfn += num * 2 ** scale;
      numPages -= num * 2 ** scale;
    }
  }

  /** arm_smmu_domain_inv_range (size 0: everything): the ASID's TLB with a sync, then the ATCs with another. */
  invRange(d: TlbTarget, iovaPfn: number, size: number, granule: number, leaf: boolean): void {
    if (this.tooBig(size, granule)) this.room().tlbi(OP.TLBI_NH_ASID, d.asid, 0);
    else this.addRange(d.asid, leaf, iovaPfn, size, granule);
    this.cmdq.issue(this.b, true);
    let ats = false;
    for (const sid of d.sids) {
      if (!this.f.atsSids.has(sid)) continue;
      ats = true;
      const ssid = d.ssid ?? 0;
      if (size === 0) this.room().atcInv(sid, ssid, 0, ATC_INV_SIZE_ALL);
      else atcInvRange(this.room(), sid, ssid, iovaPfn, size);
    }
    if (ats) this.cmdq.issue(this.b, true);
  }

  /**
   * iotlb_sync after an unmap of pages [start, last] (leaf = ih: only leaves changed) at the gather's page size;
   * or tlb_flush_walk (leaf false, 4 KiB granule) after a freed table.
   */
  flushRange(d: ArmSmmuDomain, start: number, last: number, ih: boolean): void {
    const granule = ih ? d.gatherPgsize || 4096 : 4096;
    if (ih) d.gatherPgsize = 0;
    if (d.sids.size === 0) return;
    this.invRange(d, start, (last - start + 1) * 4096, granule, ih);
  }

  /** arm_smmu_tlb_inv_context: the flush queue's flush-all. */
  flushAll(d: ArmSmmuDomain): void {
    d.gatherPgsize = 0;
    if (d.sids.size === 0) return;
    this.invRange(d, 0, 0, 0, false);
  }

  /** After a map: the SMMU caches no invalid entries and Linux has no iotlb_sync_map here. */
  flushRangeNp(_d: ArmSmmuDomain, _start: number, _last: number): void {}
}

/** arm_smmu_atc_inv_to_cmd: the smallest power-of-two span of 4 KiB pages that covers the range. */
function atcInvRange(b: CmdBatch, sid: number, ssid: number, pfn: number, size: number): void {
  const last = pfn + size / 4096 - 1;
  // fls(start ^ last) on page numbers that may exceed 32 bits.
  const hi = (Math.floor(pfn / 2 ** 32) ^ Math.floor(last / 2 ** 32)) >>> 0;
  const lo = (pfn ^ last) >>> 0;
  const log2Span = hi !== 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(lo);
  b.atcInv(sid, ssid, pfn - (pfn % 2 ** log2Span), log2Span);
}
