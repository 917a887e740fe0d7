// Cache tags (kernel intel/cache.c): which IOTLB and device-TLB entries a domain may have, and how to flush them.
import type { DeviceDomainInfo } from './device-info.js';
import type { DmarDomainBase } from './domain-base.js';
import type { IntelIommu } from './intel-iommu.js';
import { MAX_AGAW_PFN_WIDTH, QI_IOTLB_DSI, QI_IOTLB_PSI } from './qi.js';

export type CacheTagType = 'iotlb' | 'devtlb' | 'nesting_iotlb' | 'nesting_devtlb';

export interface CacheTag {
  type: CacheTagType;
  iommu: IntelIommu;
  did: number;
  pasid: number;
  /** The device whose device-TLB the tag names (devtlb types). */
  info: DeviceDomainInfo | null;
  users: number;
}

/** QI_MAX_BATCHED_DESC_COUNT. */
const BATCH = 16;

function matches(t: CacheTag, did: number, info: DeviceDomainInfo, pasid: number, type: CacheTagType): boolean {
  if (t.type !== type || t.did !== did || t.pasid !== pasid) return false;
  return type === 'iotlb' || type === 'nesting_iotlb' ? t.iommu === info.iommu : t.info === info;
}

export function cacheTagAssign(domain: DmarDomainBase, did: number, info: DeviceDomainInfo, pasid: number, type: CacheTagType): void {
  const t = domain.cacheTags.find((x) => matches(x, did, info, pasid, type));
  if (t) t.users++;
  else domain.cacheTags.push({ type, iommu: info.iommu, did, pasid, info: type.endsWith('devtlb') ? info : null, users: 1 });
}

export function cacheTagUnassign(domain: DmarDomainBase, did: number, info: DeviceDomainInfo, pasid: number, type: CacheTagType): void {
  const i = domain.cacheTags.findIndex((x) => matches(x, did, info, pasid, type));
  if (i >= 0 && --domain.cacheTags[i]!.users === 0) domain.cacheTags.splice(i, 1);
}

/** cache_tag_assign_domain: IOTLB (+ device-TLB with ATS); a nested domain also tags its parent with its own DID. */
export function cacheTagAssignDomain(domain: DmarDomainBase, info: DeviceDomainInfo, pasid: number): void {
  const did = domain.didOf(info.iommu);
  cacheTagAssign(domain, did, info, pasid, 'iotlb');
  if (info.atsEnabled) cacheTagAssign(domain, did, info, pasid, 'devtlb');
  const parent = (domain as { s2?: DmarDomainBase }).s2;
  if (domain.type === 'nested' && parent) {
    cacheTagAssign(parent, did, info, pasid, 'nesting_iotlb');
    if (info.atsEnabled) cacheTagAssign(parent, did, info, pasid, 'nesting_devtlb');
  }
}

export function cacheTagUnassignDomain(domain: DmarDomainBase, info: DeviceDomainInfo, pasid: number): void {
  const did = domain.didOf(info.iommu);
  cacheTagUnassign(domain, did, info, pasid, 'iotlb');
  if (info.atsEnabled) cacheTagUnassign(domain, did, info, pasid, 'devtlb');
  const parent = (domain as { s2?: DmarDomainBase }).s2;
  if (domain.type === 'nested' && parent) {
    cacheTagUnassign(parent, did, info, pasid, 'nesting_iotlb');
    if (info.atsEnabled) cacheTagUnassign(parent, did, info, pasid, 'nesting_devtlb');
  }
}

/** calculate_psi_aligned_address: the smallest naturally aligned 2^order-page block covering [start, last]. */
export function calculatePsiAlignedAddress(start: bigint, last: bigint): { addr: bigint; order: number } {
  const s = start & ~0xfffn;
  const x = s ^ last;
  const lg2 = x === 0n ? 0 : x.toString(2).length;
  if (lg2 <= 12) return { addr: s, order: 0 };
  if (lg2 >= 64) return { addr: 0n, order: MAX_AGAW_PFN_WIDTH };
  return { addr: s & ~((1n << BigInt(lg2)) - 1n), order: lg2 - 12 };
}

class Batch {
  private iommu: IntelIommu | null = null;
  private descs: bigint[][] = [];

  add(iommu: IntelIommu, desc: bigint[]): void {
    if (this.iommu && this.iommu !== iommu) this.flush();
    this.iommu = iommu;
    this.descs.push(desc);
    if (this.descs.length === BATCH) this.flush();
  }

  flush(): void {
    if (this.iommu && this.descs.length) this.iommu.qi.submitSync(this.descs);
    this.descs = [];
  }
}

function flushIotlb(domain: DmarDomainBase, tag: CacheTag, addr: bigint, order: number, ih: boolean, b: Batch): void {
  const { iommu } = tag;
  if (domain.usesPiotlb) {
    b.add(iommu, iommu.qi.piotlbDesc(tag.did, tag.pasid, addr, order, ih, order >= MAX_AGAW_PFN_WIDTH));
    return;
  }
  let g = QI_IOTLB_PSI;
  if (!iommu.c.psi || order > iommu.c.mamv) {
    addr = 0n;
    order = 0;
    ih = false;
    g = QI_IOTLB_DSI;
  }
  b.add(iommu, iommu.qi.iotlbDesc(tag.did, addr, order, g, ih, iommu.c.dwd));
}

function flushDevtlb(tag: CacheTag, addr: bigint, order: number, b: Batch): void {
  const info = tag.info!;
  const { iommu } = tag;
  // The spec recommends no device-TLB invalidations while remapping is off.
  if (!iommu.translationEnabled) return;
  if (tag.pasid === 0) b.add(iommu, iommu.qi.devIotlbDesc(info.sid, info.pfsid, info.atsQdep, addr, order));
  else b.add(iommu, iommu.qi.devIotlbPasidDesc(info.sid, info.pfsid, tag.pasid, info.atsQdep, addr, order));
}

/** cache_tag_flush_range: [start, end] inclusive; ih = only leaves changed. */
export function cacheTagFlushRange(domain: DmarDomainBase, start: bigint, end: bigint, ih: boolean): void {
  const { addr, order } = calculatePsiAlignedAddress(start, end);
  const b = new Batch();
  for (const tag of domain.cacheTags) {
    if (tag.type === 'iotlb' || tag.type === 'nesting_iotlb') flushIotlb(domain, tag, addr, order, ih, b);
    else if (tag.type === 'nesting_devtlb') flushDevtlb(tag, 0n, MAX_AGAW_PFN_WIDTH, b);
    else flushDevtlb(tag, addr, order, b);
  }
  b.flush();
}

export function cacheTagFlushAll(domain: DmarDomainBase): void {
  cacheTagFlushRange(domain, 0n, (1n << 64n) - 1n, false);
}

/** cache_tag_flush_range_np: after a map; only caching mode needs an IOTLB flush, for second-stage domains. */
export function cacheTagFlushRangeNp(domain: DmarDomainBase, start: bigint, end: bigint, fsPaging: boolean): void {
  const { addr, order } = calculatePsiAlignedAddress(start, end);
  const b = new Batch();
  for (const tag of domain.cacheTags) {
    if (!tag.iommu.c.cm || fsPaging) {
      tag.iommu.flushWriteBuffer();
      continue;
    }
    if (tag.type === 'iotlb' || tag.type === 'nesting_iotlb') flushIotlb(domain, tag, addr, order, false, b);
  }
  b.flush();
}
