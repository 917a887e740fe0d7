// PASID tables and entries (kernel intel/pasid.c): allocation, the scalable-mode context entry, setup and teardown.
import { ErrnoError } from '@iommu-lab/platform';
import { ScalableContextEntry } from '../format/context-entry.js';
import { PasidDirEntry } from '../format/pasid-dir-entry.js';
import {
  PASID_ENTRY_PGTT_FL_ONLY,
  PASID_ENTRY_PGTT_NESTED,
  PASID_ENTRY_PGTT_PT,
  PASID_ENTRY_PGTT_SL_ONLY,
  PasidEntry,
} from '../format/pasid-entry.js';
import type { DeviceDomainInfo } from './device-info.js';
import { FLPT_DEFAULT_DID, type IntelIommu } from './intel-iommu.js';
import { MAX_AGAW_PFN_WIDTH, QI_CC_DEVICE, QI_IOTLB_DSI, QI_PC_PASID_SEL } from './qi.js';

type PasidFields = ReturnType<typeof PasidEntry.decode>;
export const PASID_MAX = 0x100000;
/** Flags of intel_pasid_setup_first_level. */
export const PASID_FLAG_FL5LP = 1 << 1;
export const PASID_FLAG_PAGE_SNOOP = 1 << 2;
export const PASID_FLAG_PWSNP = 1 << 3;

/** intel_pasid_alloc_table: a directory for min(device PASIDs, PASID_MAX), at least one page (32768 PASIDs). */
export function intelPasidAllocTable(info: DeviceDomainInfo, devicePasids: number): void {
  const maxPasid = info.pasidSupported ? Math.min(devicePasids, PASID_MAX) : 0;
  const size = maxPasid >> 3;
  const order = size ? Math.max(0, Math.ceil(Math.log2(size / 4096))) : 0;
  const dirPfn = info.iommu.frames.alloc(order);
  info.pasidTable = { dirPfn, order, maxPasid: 2 ** (order + 12 + 3) };
}

export function intelPasidFreeTable(info: DeviceDomainInfo): void {
  const t = info.pasidTable;
  if (!t) return;
  const { mem, frames } = info.iommu;
  for (let i = 0; i < t.maxPasid >> 6; i++) {
    const de = mem.u64(t.dirPfn * 4096 + i * 8);
    if ((de & 1n) !== 0n) frames.put(Number(de >> 12n));
  }
  for (let i = 0; i < 2 ** t.order; i++) frames.put(t.dirPfn + i);
  info.pasidTable = null;
}

/** intel_pasid_get_entry: the address of the 64-byte entry, allocating its table page; -1 without a table. */
export function pasidEntryPa(info: DeviceDomainInfo, pasid: number): number {
  const t = info.pasidTable;
  if (!t || pasid >= t.maxPasid) return -1;
  const { mem, frames } = info.iommu;
  const dePa = t.dirPfn * 4096 + (pasid >>> 6) * 8;
  let de = mem.u64(dePa);
  if ((de & 1n) === 0n) {
    de = PasidDirEntry.encode({ present: true, pasidTablePtr: BigInt(frames.allocFrame()) * 4096n })[0]!;
    mem.setU64(dePa, de);
  }
  return Number(de & ~0xfffn) + (pasid & 63) * 64;
}

export function readPasidEntry(info: DeviceDomainInfo, pa: number): PasidFields {
  const mem = info.iommu.mem;
  return PasidEntry.decode(Array.from({ length: 8 }, (_, i) => mem.u64(pa + i * 8)));
}

/** Writes the entry with qword 0 (which holds P) last, as the kernel sets present after the other fields. */
function writePasidEntry(info: DeviceDomainInfo, pa: number, fields: Partial<PasidFields>): void {
  const w = PasidEntry.encode(fields);
  const mem = info.iommu.mem;
  for (let i = 7; i >= 0; i--) mem.setU64(pa + i * 8, w[i]!);
}

function entryFor(info: DeviceDomainInfo, pasid: number): number {
  const pa = pasidEntryPa(info, pasid);
  if (pa < 0) throw new ErrnoError('ENODEV', 'ioctl', `${info.dev.name}: no PASID table entry for ${pasid}`);
  if (readPasidEntry(info, pa).present) throw new ErrnoError('EBUSY', 'ioctl', `${info.dev.name}: PASID ${pasid} entry is present`);
  return pa;
}

/** pasid_flush_caches: after a not-present -> present change, only caching mode needs invalidations. */
function pasidFlushCaches(iommu: IntelIommu, pasid: number, did: number): void {
  if (iommu.c.cm) {
    iommu.qi.flushPasidCache(did, QI_PC_PASID_SEL, pasid);
    iommu.flushPiotlbAll(did, pasid);
  } else {
    iommu.flushWriteBuffer();
  }
}

/** devtlb_invalidation_with_pasid: a full device-TLB flush (RID form for PASID 0). */
function devtlbInvalidationWithPasid(iommu: IntelIommu, info: DeviceDomainInfo, pasid: number): void {
  if (!info.atsEnabled) return;
  const qi = iommu.qi;
  if (pasid === 0) qi.submitSync([qi.devIotlbDesc(info.sid, info.pfsid, info.atsQdep, 0n, 64 - 12)]);
  else qi.submitSync([qi.devIotlbPasidDesc(info.sid, info.pfsid, pasid, info.atsQdep, 0n, 64 - 12)]);
}

/** intel_pasid_tear_down_entry: clear P, PASID-cache, IOTLB (PASID-based for FS/PT, DSI otherwise), device-TLB, then clear. */
export function intelPasidTearDownEntry(iommu: IntelIommu, info: DeviceDomainInfo, pasid: number, faultIgnore: boolean): void {
  const pa = pasidEntryPa(info, pasid);
  if (pa < 0) return;
  const e = readPasidEntry(info, pa);
  const mem = iommu.mem;
  if (!e.present) {
    if (e.fpd) writePasidEntry(info, pa, {});
    return;
  }
  mem.setU64(pa, mem.u64(pa) & ~1n);
  iommu.qi.flushPasidCache(e.did, QI_PC_PASID_SEL, pasid);
  if (e.pgtt === PASID_ENTRY_PGTT_PT || e.pgtt === PASID_ENTRY_PGTT_FL_ONLY) iommu.flushPiotlbAll(e.did, pasid);
  else iommu.flushIotlb(e.did, 0n, 0, QI_IOTLB_DSI);
  devtlbInvalidationWithPasid(iommu, info, pasid);
  writePasidEntry(info, pa, faultIgnore ? { fpd: true } : {});
}

export function intelPasidSetupFirstLevel(iommu: IntelIommu, info: DeviceDomainInfo, fsptptr: number, pasid: number, did: number, flags: number): void {
  if (!iommu.e.fsts) throw new ErrnoError('EINVAL', 'ioctl', `${iommu.name}: no first level translation support`);
  if (flags & PASID_FLAG_FL5LP && !iommu.c.fs5lp) throw new ErrnoError('EINVAL', 'ioctl', `${iommu.name}: no 5-level paging support for first-level`);
  const pa = entryFor(info, pasid);
  writePasidEntry(info, pa, {
    fsptptr: BigInt(fsptptr),
    fspm: flags & PASID_FLAG_FL5LP ? 1 : 0,
    pgsnp: (flags & PASID_FLAG_PAGE_SNOOP) !== 0,
    did,
    aw: iommu.agaw,
    pwsnp: (flags & PASID_FLAG_PWSNP) !== 0,
    pgtt: PASID_ENTRY_PGTT_FL_ONLY,
    present: true,
  });
  pasidFlushCaches(iommu, pasid, did);
}

/** What a second-stage setup needs from the domain (pt_iommu_vtdss_hw_info and features). */
export interface SsTableInfo {
  ssptptr: number;
  aw: number;
  dirtyTracking: boolean;
  pageWalkSnoop: boolean;
}

export function intelPasidSetupSecondLevel(iommu: IntelIommu, info: DeviceDomainInfo, ss: SsTableInfo, pasid: number, did: number): void {
  if (!iommu.e.ssts) throw new ErrnoError('EINVAL', 'ioctl', `${iommu.name}: no second level translation support`);
  const pa = entryFor(info, pasid);
  writePasidEntry(info, pa, {
    did,
    ssptptr: BigInt(ss.ssptptr),
    aw: ss.aw,
    pgtt: PASID_ENTRY_PGTT_SL_ONLY,
    pwsnp: ss.pageWalkSnoop,
    ssade: ss.dirtyTracking,
    present: true,
  });
  pasidFlushCaches(iommu, pasid, did);
}

export function intelPasidSetupPassThrough(iommu: IntelIommu, info: DeviceDomainInfo, pasid: number): void {
  const pa = entryFor(info, pasid);
  writePasidEntry(info, pa, { did: FLPT_DEFAULT_DID, aw: iommu.agaw, pgtt: PASID_ENTRY_PGTT_PT, pwsnp: iommu.e.smpwcs, present: true });
  pasidFlushCaches(iommu, pasid, FLPT_DEFAULT_DID);
}

/** struct iommu_hwpt_vtd_s1 as the nested domain keeps it. */
export interface VtdS1Config {
  flags: bigint;
  pgtblAddr: bigint;
  addrWidth: number;
}

/** intel_pasid_setup_nested: validates the stage-1 config against the unit, then PGTT = nested. */
export function intelPasidSetupNested(iommu: IntelIommu, info: DeviceDomainInfo, pasid: number, did: number, s1: VtdS1Config, ss: SsTableInfo, forceSnooping: boolean): void {
  if (s1.addrWidth !== 48 && s1.addrWidth !== 57) throw new ErrnoError('EINVAL', 'ioctl', `invalid stage-1 address width ${s1.addrWidth}`);
  if (s1.addrWidth === 57 && !iommu.c.fs5lp) throw new ErrnoError('EINVAL', 'ioctl', '5-level paging not supported');
  const sre = (s1.flags & 1n) !== 0n;
  const eafe = (s1.flags & 2n) !== 0n;
  const wpe = (s1.flags & 4n) !== 0n;
  if (sre && !iommu.e.srs) throw new ErrnoError('EINVAL', 'ioctl', `${iommu.name}: no supervisor request support`);
  if (eafe && !iommu.e.eafs) throw new ErrnoError('EINVAL', 'ioctl', `${iommu.name}: no extended access flag support`);
  const pa = entryFor(info, pasid);
  writePasidEntry(info, pa, {
    fspm: s1.addrWidth === 57 ? 1 : 0,
    fsptptr: s1.pgtblAddr & ~0xfffn & ((1n << 64n) - 1n),
    sre,
    wpe: sre && wpe,
    eafe,
    pgsnp: forceSnooping,
    ssptptr: BigInt(ss.ssptptr),
    did,
    aw: ss.aw,
    pwsnp: ss.pageWalkSnoop,
    ssade: ss.dirtyTracking,
    pgtt: PASID_ENTRY_PGTT_NESTED,
    present: true,
  });
  pasidFlushCaches(iommu, pasid, did);
}

/** intel_pasid_setup_dirty_tracking: flip SSADE of an SS-only or nested entry and flush as table 25 says. */
export function intelPasidSetupDirtyTracking(iommu: IntelIommu, info: DeviceDomainInfo, pasid: number, enabled: boolean): void {
  const pa = pasidEntryPa(info, pasid);
  if (pa < 0) throw new ErrnoError('ENODEV', 'ioctl', `${info.dev.name}: no PASID entry ${pasid}`);
  const e = readPasidEntry(info, pa);
  if (e.pgtt !== PASID_ENTRY_PGTT_SL_ONLY && e.pgtt !== PASID_ENTRY_PGTT_NESTED) {
    throw new ErrnoError('EOPNOTSUPP', 'ioctl', `dirty tracking not supported on translation type ${e.pgtt}`);
  }
  if (e.ssade === enabled) return;
  iommu.mem.setU64(pa, enabled ? iommu.mem.u64(pa) | (1n << 9n) : iommu.mem.u64(pa) & ~(1n << 9n));
  iommu.qi.flushPasidCache(e.did, QI_PC_PASID_SEL, pasid);
  iommu.flushIotlb(e.did, 0n, 0, QI_IOTLB_DSI);
  devtlbInvalidationWithPasid(iommu, info, pasid);
}

/** intel_pasid_setup_sm_context: the context entry points at the device's PASID directory. */
export function intelPasidSetupSmContext(info: DeviceDomainInfo): void {
  const iommu = info.iommu;
  const pa = iommu.contextAddr(info.bus, info.devfn, true);
  const cur = ScalableContextEntry.decode([0, 1, 2, 3].map((i) => iommu.mem.u64(pa + i * 8)));
  if (cur.present) return;
  const t = info.pasidTable!;
  const pds = Math.max(0, Math.log2(t.maxPasid >> 6) - 7);
  const w = ScalableContextEntry.encode({
    present: true,
    pasidDirPtr: BigInt(t.dirPfn) * 4096n,
    pdts: pds,
    ridPasid: 0,
    dte: info.atsSupported,
    pasidEnable: info.pasidSupported,
    pre: info.priSupported,
  });
  for (let i = 3; i >= 0; i--) iommu.mem.setU64(pa + i * 8, w[i]!);
  if (iommu.c.cm) {
    iommu.qi.flushContext(0, info.sid, 0, QI_CC_DEVICE);
    iommu.flushIotlb(0, 0n, 0, QI_IOTLB_DSI);
  }
}

/** device_pasid_table_teardown: clear P, flush the context cache device-selectively (and device-TLBs), clear. */
export function intelPasidTeardownSmContext(info: DeviceDomainInfo): void {
  const iommu = info.iommu;
  const pa = iommu.contextAddr(info.bus, info.devfn, false);
  if (pa < 0) return;
  iommu.mem.setU64(pa, iommu.mem.u64(pa) & ~1n);
  iommu.qi.flushContext(0, info.sid, 0, QI_CC_DEVICE);
  if (info.atsEnabled) iommu.qi.submitSync([iommu.qi.devIotlbDesc(info.sid, info.pfsid, info.atsQdep, 0n, MAX_AGAW_PFN_WIDTH)]);
  for (let i = 0; i < 4; i++) iommu.mem.setU64(pa + i * 8, 0n);
}
