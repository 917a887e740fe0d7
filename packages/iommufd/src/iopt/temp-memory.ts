// TEMP_MEMORY_LIMIT and temp_kmalloc (pages.c): the scratch arrays of a pfn reader, sized by a per-host knob.
import { ErrnoError, type FaultInjector, type Host, PAGE_SIZE } from '@iommu-lab/platform';
import { iommufdShouldFail } from '../context.js';

/** TEMP_MEMORY_LIMIT without CONFIG_IOMMUFD_TEST; the selftest can lower it (iommufd_test_memory_limit). */
export const TEMP_MEMORY_LIMIT = 65536;

const KEY = Symbol('iommufd_test_memory_limit');

export function tempMemoryLimit(host: Host): number {
  return (host.ext.get(KEY) as number | undefined) ?? TEMP_MEMORY_LIMIT;
}

/** IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT */
export function setTempMemoryLimit(host: Host, limit: number): void {
  host.ext.set(KEY, limit);
}

/**
 * temp_kmalloc without a backup: ENOMEM at its iommufd_should_fail(); otherwise the bytes it got.
 * A failed first kmalloc (__GFP_NORETRY) is retried at PAGE_SIZE, which always succeeds.
 */
export function tempKmalloc(faults: FaultInjector, host: Host, size: number): number {
  if (iommufdShouldFail(faults, 'temp_kmalloc')) throw new ErrnoError('ENOMEM', 'ioctl', 'temp_kmalloc (fail-nth)');
  if (iommufdShouldFail(faults, 'kmalloc')) return PAGE_SIZE;
  return Math.min(size, tempMemoryLimit(host));
}
