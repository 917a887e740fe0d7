// Fault recording register, 128 bits (VT-d spec 10.4.14 FRCD_REG): one recorded DMA-remapping fault.
import { addr, defineEntry, flag, num } from './bitfield.js';

export const FaultRecord = defineEntry('FaultRecord', 2, {
  /** FI: the faulting page address. */
  faultInfo: addr(0, 63, 12),
  sid: num(1, 15, 0),
  priv: flag(1, 29),
  exe: flag(1, 30),
  /** PP: the PASID value is valid. */
  pasidPresent: flag(1, 31),
  reason: num(1, 39, 32),
  pasid: num(1, 59, 40),
  at: num(1, 61, 60),
  /** T: 1 = read request, 0 = write request (the kernel's dma_frcd_type). */
  type: flag(1, 62),
  /** F: a fault is recorded here; software writes 1 to clear. */
  fault: flag(1, 63),
});

export type FaultRecordFields = ReturnType<typeof FaultRecord.decode>;
