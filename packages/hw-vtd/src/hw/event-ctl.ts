// Event control registers FECTL, IECTL, PECTL (VT-d spec 10.4.10, 10.4.27, 10.4.35): IM masks the interrupt, IP keeps one raised while masked.
import { DMA_FECTL_IM, DMA_FECTL_IP } from '../format/registers.js';
import type { RegisterFile } from './register-file.js';

/** An event: true when its interrupt goes out now, false when IM holds it pending in IP. */
export function raiseEvent(regs: RegisterFile, off: number): boolean {
  if ((regs.r32(off) & DMA_FECTL_IM) === 0) return true;
  regs.set32(off, DMA_FECTL_IP, true);
  return false;
}

/** Software wrote the register (IP is read-only): true when unmasking delivers the pending interrupt. */
export function writeEventCtl(regs: RegisterFile, off: number, v: number): boolean {
  const ip = regs.r32(off) & DMA_FECTL_IP;
  regs.w32(off, (v & DMA_FECTL_IM) | ip);
  if ((v & DMA_FECTL_IM) !== 0 || ip === 0) return false;
  regs.set32(off, DMA_FECTL_IP, false);
  return true;
}
