// The page request interface (VT-d spec 7.4 and 10.4.31-10.4.37): the page request descriptor hardware writes into
// the page request queue, the PQH/PQT/PQA/PRS/PECTL registers, and the page group response codes.
import { addr, defineEntry, flag, num } from './bitfield.js';

export const DMAR_PQH_REG = 0xc0;
export const DMAR_PQT_REG = 0xc8;
export const DMAR_PQA_REG = 0xd0;
export const DMAR_PRS_REG = 0xdc;
export const DMAR_PECTL_REG = 0xe0;
export const DMAR_PEDATA_REG = 0xe4;
export const DMAR_PEADDR_REG = 0xe8;
export const DMAR_PEUADDR_REG = 0xec;

/** PRS_REG: PPR (pending page request), PRO (page request overflow), both write-1-to-clear. */
export const DMA_PRS_PPR = 1 << 0;
export const DMA_PRS_PRO = 1 << 1;

/** PQH/PQT hold a byte offset into the queue: bits 18:5 (32-byte descriptors). */
export const PQ_OFFSET_MASK = 0x7ffe0;
export const PRQ_DESC_SIZE = 32;
/** The type of a page request descriptor (bits 7:0). */
export const PRQ_DESC_PAGE_REQUEST = 1;

/** The kernel's PRQ_ORDER: a 64 KiB queue (2^4 pages, 2048 descriptors). */
export const PRQ_ORDER = 4;

/** PQA_REG: base 63:12, PQS 2:0; the queue has 2^(PQS + 7) descriptors of 32 bytes (2^PQS pages). */
export const PqaReg = {
  decode(v: bigint): { base: bigint; pqs: number } {
    return { base: v & ~0xfffn, pqs: Number(v & 7n) };
  },
  entries(pqs: number): number {
    return 2 ** (pqs + 7);
  },
};

/** 7.4.1.1 Page request descriptor: qword 0 names the requester, qword 1 the page and its group; qwords 2-3 private data. */
export const PageRequestDesc = defineEntry('PageRequestDesc', 4, {
  type: num(0, 7, 0),
  pasidPresent: flag(0, 8),
  rid: num(0, 31, 16),
  pasid: num(0, 51, 32),
  exeReq: flag(0, 52),
  pmReq: flag(0, 53),
  rdReq: flag(1, 0),
  wrReq: flag(1, 1),
  lpig: flag(1, 2),
  prgi: num(1, 11, 3),
  addr: addr(1, 63, 12),
  privateData0: addr(2, 63, 0),
  privateData1: addr(3, 63, 0),
});

/** Response codes of the page group response descriptor (QI_RESP_*), as PCIe's PRG Response Message has them. */
export const QI_RESP_SUCCESS = 0x0;
export const QI_RESP_INVALID = 0x1;
export const QI_RESP_FAILURE = 0xf;
