// Descriptor numbers: the simulated table uses the real process's numbers, so an fd the kernel installs is free in both.
import { type FileOps, OpenFile, type Process } from '@iommu-lab/platform';

/** What stands in the simulated table for a real descriptor the simulator does not own. */
export const realFdOps: FileOps = { name: 'host' };

/** Installs `file` as descriptor `fd` (which must be free), filling lower holes temporarily. */
export function installAt(proc: Process, fd: number, file: OpenFile): void {
  const fillers: number[] = [];
  try {
    for (;;) {
      const n = proc.installFile(file);
      if (n === fd) return;
      if (n > fd) {
        proc.close(n);
        throw new Error(`descriptor ${fd} is taken in the simulated table`);
      }
      // n is a lower hole: keep it filled and try again (the file gains a reference per slot).
      file.get();
      fillers.push(n);
    }
  } finally {
    for (const n of fillers) proc.close(n);
  }
}

/**
 * Marks the real process's descriptors below the highest hinted free number as taken, so that the
 * simulated kernel's next fd_install picks the lowest number that is free in the real process.
 * `lowfree` holds free numbers in ascending order. Returns the placeholder numbers.
 */
export function reserveRealFds(proc: Process, lowfree: readonly number[], isSimulated: (fd: number) => boolean): number[] {
  const free = lowfree.filter((n) => n >= 0);
  if (free.length === 0) return [];
  const limit = free[free.length - 1]!;
  const placed: number[] = [];
  for (let n = 0; n < limit; n++) {
    if (free.includes(n) || isSimulated(n)) continue;
    installAt(proc, n, new OpenFile(realFdOps, null, `fd:${n}`));
    placed.push(n);
  }
  return placed;
}
