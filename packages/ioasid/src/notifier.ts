// IOASID notifier chains: the system-wide one and one per set, called by priority (the set rework).
import { ErrnoError } from '@iommu-lab/platform';
import type { IoasidFreeEvent, IoasidNotifier } from './types.js';

/** enum ioasid_notifier_prios: on a free the vCPU is quiesced first, then the IOMMU, then devices. */
export const IOASID_PRIO_LAST = 0;
export const IOASID_PRIO_DEVICE = 1;
export const IOASID_PRIO_IOMMU = 2;
export const IOASID_PRIO_CPU = 3;

interface Entry {
  readonly fn: IoasidNotifier;
  readonly priority: number;
}

/** A notifier chain: higher priority first, registration order among equals (notifier_chain_register). */
export class NotifierChain {
  private entries: Entry[] = [];

  get length(): number {
    return this.entries.length;
  }

  register(fn: IoasidNotifier, priority: number, syscall: string): void {
    if (typeof fn !== 'function' || !Number.isInteger(priority)) throw new ErrnoError('EINVAL', syscall, 'a notifier is a function with an integer priority');
    if (this.entries.some((e) => e.fn === fn)) throw new ErrnoError('EEXIST', syscall, 'notifier already registered');
    const at = this.entries.findIndex((e) => priority > e.priority);
    const next = [...this.entries];
    next.splice(at < 0 ? next.length : at, 0, { fn, priority });
    this.entries = next;
  }

  unregister(fn: IoasidNotifier, syscall: string): void {
    if (!this.entries.some((e) => e.fn === fn)) throw new ErrnoError('ENOENT', syscall, 'notifier not registered');
    this.entries = this.entries.filter((e) => e.fn !== fn);
  }

  /**
   * Calls every notifier registered when the call starts, so one may unregister itself. A throwing
   * notifier does not stop the others; the first exception is returned for the caller to rethrow
   * once the free has completed.
   */
  call(event: IoasidFreeEvent): { error: unknown } | undefined {
    let first: { error: unknown } | undefined;
    for (const e of this.entries) {
      try {
        e.fn(event);
      } catch (error) {
        first ??= { error };
      }
    }
    return first;
  }
}
