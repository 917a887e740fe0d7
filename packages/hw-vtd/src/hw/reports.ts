// What the hardware tells software about a fault (DmaFaultInfo with the VT-d details) and about a stale IOTLB entry.
import type { DmaFaultInfo, PhysMem } from '@iommu-lab/platform';
import { vtdFaultReasonName } from '../format/fault-reasons.js';
import type { StaleTranslationReport, WalkedEntry } from './detector.js';
import type { SlotWalk } from './slot-walk.js';
import type { PageWalker } from './walker.js';

/** Where a fault was found: the structure (root .. pasid), the paging stage and its level, and the entry read. */
export interface VtdFaultDetail {
  stage: 'root' | 'context' | 'pasid-dir' | 'pasid' | 'first' | 'second' | 'request';
  /** Paging level of the failing entry (5..1), 0 for the root/context/PASID structures and request checks. */
  level: number;
  entryPa?: number;
  /** The 64-bit paging entry that failed. */
  entry?: bigint;
  /** The whole root/context/PASID entry that failed. */
  entries?: bigint[];
  /** Nested: the GPA of the first-stage table whose second-stage translation failed. */
  tableGpa?: bigint;
}

/** DmaFaultInfo.record of the VT-d model. */
export interface VtdFaultRecordInfo extends VtdFaultDetail {
  sid: number;
  /** DID of the PASID entry in use, -1 when the fault came before it. */
  did: number;
  /** False when FPD suppressed recording (a qualified fault). */
  recorded: boolean;
}

export function vtdFaultInfo(
  reason: number,
  rid: number,
  pasid: number,
  iovaPfn: number,
  access: number,
  did: number,
  recorded: boolean,
  detail: VtdFaultDetail | null,
  recoverable = false,
): DmaFaultInfo {
  const record: VtdFaultRecordInfo = { ...(detail ?? { stage: 'request', level: 0 }), sid: rid, did, recorded };
  const info = { reason, reasonName: vtdFaultReasonName(reason), address: BigInt(iovaPfn) * 4096n, pasid, access, record };
  return recoverable ? { ...info, recoverable } : info;
}

function entryAt(mem: PhysMem, stage: 'first' | 'second', level: number, pa: number): WalkedEntry {
  return { stage, level, pa, value: mem.contains(pa, 8) ? mem.u64(pa) : 0n };
}

export function staleReport(
  rid: number,
  did: number,
  pasid: number,
  iovaPfn: number,
  access: number,
  cached: { pfn: number; level: number; perm: number },
  ok: boolean,
  sw: SlotWalk,
  w: PageWalker,
  mem: PhysMem,
): StaleTranslationReport {
  const entries: WalkedEntry[] = [];
  if (ok) {
    if (w.fsLeafPa >= 0) entries.push(entryAt(mem, 'first', w.level, w.fsLeafPa));
    if (w.ssLeafPa >= 0) entries.push(entryAt(mem, 'second', w.ssLevel, w.ssLeafPa));
  } else if (sw.entryPa >= 0 && (sw.stage === 'first' || sw.stage === 'second')) {
    entries.push(entryAt(mem, sw.stage, sw.faultLevel, sw.entryPa));
  }
  const fresh = ok
    ? { pfn: sw.pfn, level: sw.level, perm: sw.perm & 31 }
    : { fault: sw.reason, reasonName: vtdFaultReasonName(sw.reason), stage: sw.stage, level: sw.faultLevel };
  return { rid, did, pasid, iova: BigInt(iovaPfn) * 4096n, access, cached, fresh, entries };
}
