// Helpers the end-to-end tests share: user memory for struct pointers, DMA fault checks, running the CLI.
import { DmaFault, type Process } from '@iommu-lab/platform';
import { vi } from 'vitest';
import { main } from '../cli.js';

/** Bytes copied into fresh memory of the process; returns their address (a `__u64 *_uptr` value). */
export function userBytes(proc: Process, bytes: Uint8Array): bigint {
  const p = proc.mmap(Math.max(4096, bytes.length));
  proc.memWrite(p, bytes);
  return p;
}

/** Little-endian u64s as bytes (vendor structs and command words). */
export function le64(...v: bigint[]): Uint8Array {
  const b = new Uint8Array(v.length * 8);
  v.forEach((x, i) => new DataView(b.buffer).setBigUint64(i * 8, x, true));
  return b;
}

/** True when the DMA in `fn` faulted; any other exception propagates. */
export function faults(fn: () => void): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    if (e instanceof DmaFault) return true;
    throw e;
  }
}

/** Runs the iommu-lab CLI in-process, capturing what it prints. */
export async function runCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
  const error = vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
  try {
    const code = await main(['node', 'iommu-lab', ...args]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}
