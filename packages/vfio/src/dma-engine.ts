// A DSA-style DMA engine on a PCI device: descriptors in, completion records out, every byte through the IOMMU.
import { DMA_READ, DMA_WRITE, DmaFault, type DmaOptions, PAGE_SIZE, type PciDevice, PRG_RESPONSE_SUCCESS } from '@iommu-lab/platform';
import {
  decodeDsaHwDesc,
  DSA_COMP_BAD_OPCODE,
  DSA_COMP_INVALID_FLAGS,
  DSA_COMP_PAGE_FAULT_IR,
  DSA_COMP_PAGE_FAULT_NOBOF,
  DSA_COMP_RECORD_SIZE,
  DSA_COMP_STATUS_WRITE,
  DSA_COMP_SUCCESS,
  DSA_COMP_XFER_ERANGE,
  DSA_OPCODE_DRAIN,
  DSA_OPCODE_MEMFILL,
  DSA_OPCODE_MEMMOVE,
  DSA_OPCODE_NOOP,
  type DsaCompletionRecord,
  type DsaHwDesc,
  encodeDsaCompletionRecord,
  IDXD_OP_FLAG_BOF,
  IDXD_OP_FLAG_CRAV,
  IDXD_OP_FLAG_FENCE,
  IDXD_OP_FLAG_RCR,
} from './uapi/idxd.js';

/** WQ_DEFAULT_MAX_XFER of the idxd driver. */
export const DSA_DEFAULT_MAX_XFER = 2 * 1024 * 1024;
/** Page requests for one page before the engine gives up on it (software said Success but the page stayed out). */
const BOF_RETRIES = 4;

const KNOWN_FLAGS = IDXD_OP_FLAG_FENCE | IDXD_OP_FLAG_BOF | IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;

export interface DsaEngineOptions {
  /** WQCFG max transfer size in bytes. */
  maxXfer?: number;
}

/** Where a completion record could not be written (the hardware's SWERR register). */
export interface DsaSwError {
  readonly desc: DsaHwDesc;
  readonly fault: DmaFault | null;
}

export class DsaEngine {
  readonly maxXfer: number;
  /** Descriptors whose completion record could not be delivered. */
  readonly swerr: DsaSwError[] = [];
  submitted = 0;
  /** Faults the engine blocked on (page requests sent) and the ones it could not get resolved. */
  blockedFaults = 0;
  unresolvedFaults = 0;

  constructor(
    readonly pci: PciDevice,
    opts: DsaEngineOptions = {},
  ) {
    this.maxXfer = opts.maxXfer ?? DSA_DEFAULT_MAX_XFER;
  }

  /**
   * A descriptor written to the work queue portal. `pasid` is what the work queue stamps on the
   * request (a dedicated WQ's configured PASID or ENQCMD's); without one the DMA carries only the RID.
   * With IDXD_OP_FLAG_BOF on a device whose PRI is enabled the engine translates through ATS and blocks on
   * a fault: it sends a page request, waits for the response and retries (see PciDevice.pageRequest: the
   * whole software chain runs inside that call). Otherwise a fault ends the descriptor (PAGE_FAULT_NOBOF).
   */
  submit(desc: DsaHwDesc | Uint8Array, opts: { pasid?: number } = {}): DsaCompletionRecord {
    const d = desc instanceof Uint8Array ? decodeDsaHwDesc(desc) : desc;
    this.submitted++;
    const bof = (d.flags & IDXD_OP_FLAG_BOF) !== 0 && this.pci.pri && this.pci.priEnabled;
    const dma: DmaOptions = { pasid: opts.pasid, priv: opts.pasid !== undefined && d.priv, ats: bof || undefined };
    const rec = this.execute(d, dma);
    if (d.flags & IDXD_OP_FLAG_CRAV && (d.flags & IDXD_OP_FLAG_RCR || rec.status !== DSA_COMP_SUCCESS)) this.writeRecord(d, rec, dma);
    return rec;
  }

  private execute(d: DsaHwDesc, dma: DmaOptions): DsaCompletionRecord {
    const rec: DsaCompletionRecord = { status: DSA_COMP_SUCCESS, result: 0, fault_info: 0, bytes_completed: 0, fault_addr: 0n };
    if (d.flags & ~KNOWN_FLAGS) return { ...rec, status: DSA_COMP_INVALID_FLAGS };
    if (d.opcode === DSA_OPCODE_NOOP || d.opcode === DSA_OPCODE_DRAIN) return rec;
    if (d.opcode !== DSA_OPCODE_MEMMOVE && d.opcode !== DSA_OPCODE_MEMFILL) return { ...rec, status: DSA_COMP_BAD_OPCODE };
    if (d.xfer_size > this.maxXfer) return { ...rec, status: DSA_COMP_XFER_ERANGE };
    const fill = d.opcode === DSA_OPCODE_MEMFILL ? patternBytes(d.src_addr) : null;
    // An overlapping move to a higher address copies from the end so the source is read before it is overwritten.
    const backward = !fill && d.dst_addr > d.src_addr && d.dst_addr < d.src_addr + BigInt(d.xfer_size);
    for (const [off, n] of chunks(d.xfer_size, fill ? 0n : d.src_addr, d.dst_addr, backward)) {
      const src = d.src_addr + BigInt(off);
      const dst = d.dst_addr + BigInt(off);
      for (let attempt = 0; ; attempt++) {
        let write = false;
        try {
          let bytes: Uint8Array;
          if (fill) {
            bytes = new Uint8Array(n);
            for (let i = 0; i < n; i++) bytes[i] = fill[(off + i) & 7]!;
          } else {
            bytes = this.pci.dmaRead(src, n, dma);
          }
          write = true;
          this.pci.dmaWrite(dst, bytes, dma);
          break;
        } catch (e) {
          if (!(e instanceof DmaFault)) throw e;
          const blocked = dma.ats && e.info.recoverable;
          if (blocked && attempt < BOF_RETRIES && this.blockOnFault(e, write, dma)) continue;
          if (blocked) this.unresolvedFaults++;
          rec.status = (blocked ? DSA_COMP_PAGE_FAULT_IR : DSA_COMP_PAGE_FAULT_NOBOF) | (write ? DSA_COMP_STATUS_WRITE : 0);
          rec.fault_addr = write ? dst : src;
          return rec;
        }
      }
      rec.bytes_completed += n;
    }
    return rec;
  }

  /** Block on fault: a page request for the faulting page; true when software answered Success (retry). */
  private blockOnFault(e: DmaFault, write: boolean, dma: DmaOptions): boolean {
    this.blockedFaults++;
    return this.pci.pageRequest(e.address, write ? DMA_WRITE : DMA_READ, dma) === PRG_RESPONSE_SUCCESS;
  }

  /** The completion record is itself a DMA write (32-byte aligned) with the descriptor's PASID. */
  private writeRecord(d: DsaHwDesc, rec: DsaCompletionRecord, dma: DmaOptions): void {
    if (d.completion_addr % BigInt(DSA_COMP_RECORD_SIZE) !== 0n) {
      this.swerr.push({ desc: d, fault: null });
      return;
    }
    const bytes = encodeDsaCompletionRecord(rec);
    for (let attempt = 0; ; attempt++) {
      try {
        this.pci.dmaWrite(d.completion_addr, bytes, dma);
        return;
      } catch (e) {
        if (!(e instanceof DmaFault)) throw e;
        if (dma.ats && e.info.recoverable && attempt < BOF_RETRIES && this.blockOnFault(e, true, dma)) continue;
        this.swerr.push({ desc: d, fault: e });
        return;
      }
    }
  }
}

/** The 8-byte MEMFILL pattern, little endian. */
function patternBytes(p: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, p), true);
  return b;
}

/** Pieces that cross no page boundary of either buffer, in copy order: [offset, length]. */
function chunks(size: number, src: bigint, dst: bigint, backward: boolean): [number, number][] {
  const out: [number, number][] = [];
  const srcOff = Number(src % BigInt(PAGE_SIZE));
  const dstOff = Number(dst % BigInt(PAGE_SIZE));
  let off = 0;
  while (off < size) {
    const n = Math.min(size - off, PAGE_SIZE - ((srcOff + off) % PAGE_SIZE), PAGE_SIZE - ((dstOff + off) % PAGE_SIZE));
    out.push([off, n]);
    off += n;
  }
  return backward ? out.reverse() : out;
}
