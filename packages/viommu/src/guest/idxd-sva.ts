// The idxd SVA path (Linux drivers/dma/idxd for a user process): descriptors carry the process's virtual addresses and
// go through a shared work queue with its PASID (ENQCMD), with block-on-fault; the completion record lives in the
// process's memory, and the process checks every byte it expected.
import { PAGE_SIZE } from '@iommu-lab/platform';
import { DSA_COMP_RECORD_SIZE, DSA_COMP_STATUS_MASK, DSA_COMP_SUCCESS, DSA_OPCODE_MEMFILL, type DsaEngine, type DsaHwDesc, IDXD_OP_FLAG_BOF, IDXD_OP_FLAG_CRAV, IDXD_OP_FLAG_RCR } from '@iommu-lab/vfio';
import type { GuestRam } from '../vm/guest-ram.js';
import type { VmStats } from '../vm/stats.js';
import type { GuestProcessMm } from './mm.js';

/** What one SVA operation ended with, from the completion records the device wrote into the process. */
export interface SvaDmaResult {
  /** DSA_COMP_* of the last descriptor (0: the device could not write the record). */
  status: number;
  faultAddr: bigint;
  write: boolean;
  descriptors: number;
  /** Bytes of the destination that differ from what was asked (success only). */
  dataErrors: number;
}

const records = new WeakMap<GuestProcessMm, number>();

/** The process's completion record: one page of its own memory, mapped on first use. */
function recordOf(mm: GuestProcessMm): number {
  let va = records.get(mm);
  if (va === undefined) records.set(mm, (va = mm.mmap(PAGE_SIZE)));
  return va;
}

/** A MEMFILL of [va, va + len) in the process with an 8-byte pattern, split at the work queue's max transfer. */
export function svaMemfill(engine: DsaEngine, ram: GuestRam, stats: VmStats, mm: GuestProcessMm, pasid: number, va: number, len: number, pattern: bigint): SvaDmaResult {
  const cr = recordOf(mm);
  const r: SvaDmaResult = { status: 0, faultAddr: 0n, write: false, descriptors: 0, dataErrors: 0 };
  for (let off = 0; off < len; off += engine.maxXfer) {
    const n = Math.min(engine.maxXfer, len - off);
    // The process clears its record's status, then ENQCMD: the work queue stamps the mm's PASID.
    mm.write(cr, new Uint8Array(DSA_COMP_RECORD_SIZE));
    const d: DsaHwDesc = { pasid, priv: false, flags: IDXD_OP_FLAG_BOF | IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR, opcode: DSA_OPCODE_MEMFILL, completion_addr: BigInt(cr), src_addr: pattern, dst_addr: BigInt(va + off), xfer_size: n };
    engine.submit(d, { pasid });
    r.descriptors++;
    stats.dmaOps++;
    const rec = mm.read(cr, DSA_COMP_RECORD_SIZE);
    const dv = new DataView(rec.buffer);
    r.status = rec[0]! & DSA_COMP_STATUS_MASK;
    r.write = (rec[0]! & 0x80) !== 0;
    if (r.status !== DSA_COMP_SUCCESS) {
      r.faultAddr = dv.getBigUint64(8, true);
      stats.dmaFaults++;
      return r;
    }
  }
  r.dataErrors = patternDiff(ram, mm, va, len, pattern);
  stats.dataErrors += r.dataErrors;
  return r;
}

/** Bytes of the process's [va, va + len) that differ from the repeating pattern (a missing page counts whole). */
function patternDiff(ram: GuestRam, mm: GuestProcessMm, va: number, len: number, pattern: bigint): number {
  const p = BigInt.asUintN(64, pattern);
  const lo = Number(p & 0xffff_ffffn);
  const hi = Number(p >> 32n);
  let diff = 0;
  for (let off = 0; off < len; ) {
    const a = va + off;
    const n = Math.min(len - off, PAGE_SIZE - (a % PAGE_SIZE));
    const pfn = mm.present(Math.floor(a / PAGE_SIZE));
    diff += pfn < 0 ? n : ram.countPatternDiff(pfn * PAGE_SIZE + (a % PAGE_SIZE), n, lo, hi, off);
    off += n;
  }
  return diff;
}
