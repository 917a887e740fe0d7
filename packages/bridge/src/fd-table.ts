// Descriptor numbers: the simulated table uses the real process's numbers, so an fd the kernel installs is free in both.
import { lstatSync } from 'node:fs';
import type { FileOps, OpenFile } from '@iommu-lab/platform';

/** What stands in for a real descriptor the simulator does not own, when the kernel looks one up. */
export const realFdOps: FileOps = { name: 'host' };

/**
 * Installs `file` as descriptor `fd` of a table whose `install` takes the lowest free number
 * (fd_install after get_unused_fd_flags): lower holes are filled for the time being. Takes over
 * the caller's reference.
 */
export function installAt(fd: number, file: OpenFile, install: (f: OpenFile) => number, close: (fd: number) => void): void {
  const fillers: number[] = [];
  try {
    for (;;) {
      const n = install(file);
      if (n === fd) return;
      if (n > fd) {
        close(n);
        throw new Error(`descriptor ${fd} is taken in the simulated table`);
      }
      // n is a lower hole: keep it filled (with another reference) and try again.
      file.get();
      fillers.push(n);
    }
  } finally {
    for (const n of fillers) close(n);
  }
}

/** True when the real process has descriptor fd open. */
export function realFdOpen(pid: number, fd: number): boolean {
  return lstatSync(`/proc/${pid}/fd/${fd}`, { throwIfNoEntry: false }) !== undefined;
}
