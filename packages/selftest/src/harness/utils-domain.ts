// iommufd_utils.h, part 3: memfd_mmap, MAP_FAILED and glibc's rand().
import type { MmapOptions } from '@iommu-lab/platform';
import type { SelfBase } from './env.js';

/** What mmap() returns on failure; our mmap throws instead, so a returned address never equals it. */
export const MAP_FAILED = (1n << 64n) - 1n;

/** memfd_mmap: a memfd of `length` bytes (hugetlb when flags.hugetlb) mapped with flags; mfd_p.v receives the fd. */
export function memfd_mmap(self: SelfBase, length: number, prot: string, flags: MmapOptions, mfd_p: { v: number }): bigint {
  const proc = self.env.proc;
  const mfd = proc.memfdCreate('buffer', { hugetlb: flags.hugetlb });
  try {
    proc.ftruncate(mfd, length);
    mfd_p.v = mfd;
    return proc.mmap(length, { ...flags, prot, fd: mfd });
  } catch (e) {
    proc.close(mfd);
    throw e;
  }
}

/**
 * rand() of a fresh test process (glibc, never seeded = srand(1)): the TYPE_3 additive feedback
 * generator, r[i] = r[i-3] + r[i-31], seeded by 16807 * r[i-1] mod (2^31 - 1), the first 310 outputs dropped.
 */
export function glibc_rand(): () => number {
  const r: number[] = [1];
  for (let i = 1; i < 31; i++) {
    const hi = Math.floor(r[i - 1]! / 127773);
    const lo = r[i - 1]! % 127773;
    let word = 16807 * lo - 2836 * hi;
    if (word < 0) word += 2147483647;
    r.push(word);
  }
  for (let i = 31; i < 34; i++) r.push(r[i - 31]!);
  for (let i = 34; i < 344; i++) r.push((r[i - 31]! + r[i - 3]!) >>> 0);
  return () => {
    const i = r.length;
    r.push((r[i - 31]! + r[i - 3]!) >>> 0);
    return r[i]! >>> 1;
  };
}
