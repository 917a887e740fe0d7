// The guest's driver for the passed-through DSA engine (Linux drivers/dma/idxd, a dedicated work queue without
// PASID): descriptors carry guest IOVAs; the device writes a completion record into guest RAM through its
// DMA mapping, and the driver reads the status from there. The portal is mapped into the guest: no VM exit.
import type { DsaEngine } from '@iommu-lab/vfio';
import { DSA_COMP_RECORD_SIZE, DSA_COMP_STATUS_MASK, DSA_COMP_SUCCESS, DSA_OPCODE_MEMFILL, DSA_OPCODE_MEMMOVE, type DsaHwDesc, IDXD_OP_FLAG_CRAV, IDXD_OP_FLAG_RCR } from '@iommu-lab/vfio';
import type { GuestRam } from '../vm/guest-ram.js';
import type { GuestDmaApi } from './dma-iommu.js';
import type { GuestPageAllocator } from './page-alloc.js';

/** DSA_COMP_PAGE_FAULT_NOBOF: the device hit a translation fault (bit 7 set: on a write). */
export const DSA_COMP_PAGE_FAULT_NOBOF = 0x03;

/** What one operation ended with, as the completion records say. */
export interface DsaResult {
  /** DSA_COMP_* status of the last descriptor (without the write bit). */
  status: number;
  /** The faulting IOVA when the status is a page fault. */
  faultAddr: bigint;
  write: boolean;
  /** Descriptors submitted (a transfer above the work queue's max size is split). */
  descriptors: number;
}

export class IdxdGuestDevice {
  /** The completion record: guest RAM, mapped for the device once (like idxd's coherent allocation). */
  readonly crGpa: number;
  readonly crIova: number;
  private readonly desc: DsaHwDesc = { pasid: 0, priv: false, flags: 0, opcode: 0, completion_addr: 0n, src_addr: 0n, dst_addr: 0n, xfer_size: 0 };
  private readonly w = new Uint32Array(2);
  private readonly result: DsaResult = { status: 0, faultAddr: 0n, write: false, descriptors: 0 };

  constructor(
    readonly engine: DsaEngine,
    readonly dma: GuestDmaApi,
    private readonly ram: GuestRam,
    pages: GuestPageAllocator,
  ) {
    this.crGpa = pages.alloc(1);
    this.crIova = dma.map(this.crGpa, DSA_COMP_RECORD_SIZE, 'from-device');
  }

  /** A MEMMOVE of len bytes between guest IOVAs, in descriptors of at most the work queue's max transfer. */
  memmove(dstIova: number, srcIova: number, len: number): DsaResult {
    return this.split(len, (off, n) => {
      const d = this.desc;
      d.opcode = DSA_OPCODE_MEMMOVE;
      d.src_addr = BigInt(srcIova + off);
      d.dst_addr = BigInt(dstIova + off);
      d.xfer_size = n;
    });
  }

  /** A MEMFILL of len bytes with the 8-byte pattern (each descriptor restarts it: pieces are 8-byte multiples). */
  memfill(dstIova: number, len: number, pattern: bigint): DsaResult {
    return this.split(len, (off, n) => {
      const d = this.desc;
      d.opcode = DSA_OPCODE_MEMFILL;
      d.src_addr = pattern;
      d.dst_addr = BigInt(dstIova + off);
      d.xfer_size = n;
    });
  }

  private split(len: number, fill: (off: number, n: number) => void): DsaResult {
    const max = this.engine.maxXfer;
    let r = this.result;
    let descriptors = 0;
    for (let off = 0; off < len; off += max) {
      fill(off, Math.min(max, len - off));
      r = this.submit();
      descriptors++;
      if (r.status !== DSA_COMP_SUCCESS) break;
    }
    r.descriptors = descriptors;
    return r;
  }

  /** Clears the record's status, writes the descriptor to the portal, reads the record back. */
  private submit(): DsaResult {
    const d = this.desc;
    d.flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
    d.completion_addr = BigInt(this.crIova);
    this.ram.write64(this.crGpa, 0, 0);
    this.engine.submit(d);
    // struct dsa_completion_record: status byte 0; fault_addr at offset 8.
    this.ram.read64(this.crGpa, this.w);
    const status = this.w[0]! & 0xff;
    const r = this.result;
    r.status = status & DSA_COMP_STATUS_MASK;
    r.write = (status & 0x80) !== 0;
    if (r.status !== DSA_COMP_SUCCESS) {
      this.ram.read64(this.crGpa + 8, this.w);
      r.faultAddr = (BigInt(this.w[1]!) << 32n) | BigInt(this.w[0]!);
    } else {
      r.faultAddr = 0n;
    }
    return r;
  }
}
