// Test helper: the errno name a call fails with.
import { ErrnoError } from '@iommu-lab/platform';

/** The ErrnoError code `fn` throws, or 'ok' when it returns; any other exception propagates. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ErrnoError) return e.code;
    throw e;
  }
  return 'ok';
}
