// The register file's state (IHI0070 6.3): plain fields the MMIO decoder, the queues and the walker share.
import { GBPA_ABORT } from '../format/registers.js';

export class SmmuRegs {
  cr0 = 0;
  cr0ack = 0;
  cr1 = 0;
  cr2 = 0;
  /** Reset value: ABORT=1, so an SMMU nobody enabled lets nothing through. */
  gbpa = GBPA_ABORT;
  irqCtrl = 0;
  irqCtrlAck = 0;
  gerror = 0;
  gerrorn = 0;
  strtabBase = 0n;
  strtabBaseAddr = 0;
  strtabCfg = 0;
  cmdqBase = 0n;
  cmdqBaseAddr = 0;
  cmdqLog2 = 0;
  cmdqProd = 0;
  cmdqCons = 0;
  evtqBase = 0n;
  evtqBaseAddr = 0;
  evtqLog2 = 0;
  evtqProd = 0;
  evtqCons = 0;
  priqBase = 0n;
  priqBaseAddr = 0;
  priqLog2 = 0;
  priqProd = 0;
  priqCons = 0;
  /** GERROR/EVENTQ/PRIQ_IRQ_CFG0..2 by offset, kept as written. */
  readonly irqCfg = new Map<number, bigint>();
}
