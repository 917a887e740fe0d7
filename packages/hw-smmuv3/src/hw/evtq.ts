// The event queue producer (IHI0070 3.5.5, 7): records into memory, the overflow flag, and the IRQ.
import type { PhysMem } from '@iommu-lab/platform';
import { EVTQ_ENT_SIZE, queueFull, queueIdx, queueInc, queueOverflowProd } from '../format/queue.js';

export interface EvtqStats {
  /** Records written to the queue. */
  written: number;
  /** Records discarded because the queue was full (each overflow episode toggles OVFLG once). */
  lost: number;
  /** Records not generated because EVENTQ was disabled. */
  dropped: number;
}

/** The EVENTQ registers the producer uses (owned by the register file). */
export interface EvtqRegs {
  evtqBaseAddr: number;
  evtqLog2: number;
  evtqProd: number;
  evtqCons: number;
}

/**
 * Appends a 32-byte record at EVENTQ_PROD. A full queue discards the record and enters the
 * overflow condition (OVFLG != CONS.OVACKFLG) by toggling OVFLG; software acknowledges by copying
 * OVFLG into OVACKFLG. Returns false when the record did not reach memory.
 */
export function writeEvent(mem: PhysMem, q: EvtqRegs, words: Uint32Array, stats: EvtqStats): 'written' | 'full' | 'abort' {
  const log2 = q.evtqLog2;
  if (queueFull(q.evtqProd, q.evtqCons, log2)) {
    stats.lost++;
    q.evtqProd = queueOverflowProd(q.evtqProd, q.evtqCons);
    return 'full';
  }
  const at = q.evtqBaseAddr + queueIdx(q.evtqProd, log2) * EVTQ_ENT_SIZE;
  for (let i = 0; i < 4; i++) {
    if (!mem.write64(at + i * 8, words[2 * i]!, words[2 * i + 1]!)) return 'abort';
  }
  q.evtqProd = queueInc(q.evtqProd, log2);
  stats.written++;
  return 'written';
}
