// Circular queues in memory (IHI0070 3.5, 6.3.25-6.3.30): base registers and PROD/CONS with wrap bits.
import { defineDwords } from './bitfield.js';

// IHI0070 6.3.25 SMMU_CMDQ_BASE and 6.3.28 SMMU_EVENTQ_BASE: [4:0] LOG2SIZE, [51:5] ADDR, 62 RA/WA
export const QueueBase = defineDwords('SMMU_Q_BASE', 1, { log2size: [0, 4, 0], addr: [0, 51, 5, 'addr'], rwa: [0, 62, 62] });

export const CMDQ_ENT_SIZE = 16;
export const EVTQ_ENT_SIZE = 32;
export const PRIQ_ENT_SIZE = 16;

/** EVENTQ_PROD.OVFLG / EVENTQ_CONS.OVACKFLG (bit 31). */
export const Q_OVERFLOW_FLAG = 0x80000000;

/** SMMU_CMDQ_CONS.ERR [30:24] values. */
export const CERROR_NONE = 0;
export const CERROR_ILL = 1;
export const CERROR_ABT = 2;
export const CERROR_ATC_INV_SYNC = 3;
export const CERROR_NAMES: readonly string[] = ['CERROR_NONE', 'CERROR_ILL', 'CERROR_ABT', 'CERROR_ATC_INV_SYNC'];

/** Index bits [log2size-1:0] of a PROD/CONS value. */
export function queueIdx(p: number, log2size: number): number {
  return (p >>> 0) % 2 ** log2size;
}

/** The wrap bit [log2size] of a PROD/CONS value (0 or 1). */
export function queueWrap(p: number, log2size: number): number {
  return Math.floor((p >>> 0) / 2 ** log2size) & 1;
}

/** The index and wrap bits only (drops OVFLG and ERR). */
export function queuePos(p: number, log2size: number): number {
  return (p >>> 0) % 2 ** (log2size + 1);
}

/** p advanced by one entry: the index wraps to 0 and the wrap bit toggles; the other bits are kept. */
export function queueInc(p: number, log2size: number): number {
  const pos = queuePos(p, log2size);
  const next = (pos + 1) % 2 ** (log2size + 1);
  return ((p >>> 0) - pos + next) >>> 0;
}

export function queueEmpty(prod: number, cons: number, log2size: number): boolean {
  return queuePos(prod, log2size) === queuePos(cons, log2size);
}

/** Same index, different wrap bit. */
export function queueFull(prod: number, cons: number, log2size: number): boolean {
  return queueIdx(prod, log2size) === queueIdx(cons, log2size) && queueWrap(prod, log2size) !== queueWrap(cons, log2size);
}

/** PROD after a full queue discards a record: OVFLG toggles unless an overflow is already unacknowledged (IHI0070 3.5). */
export function queueOverflowProd(prod: number, cons: number): number {
  return (prod & Q_OVERFLOW_FLAG) === (cons & Q_OVERFLOW_FLAG) ? (prod ^ Q_OVERFLOW_FLAG) >>> 0 : prod;
}

/** Entries between cons and prod. */
export function queueUsed(prod: number, cons: number, log2size: number): number {
  const n = 2 ** log2size;
  return (queuePos(prod, log2size) - queuePos(cons, log2size) + 2 * n) % (2 * n);
}
