// Fault injection like the kernel's /proc/self/task/N/fail-nth: the Nth allocation attempt fails.
import { ErrnoError } from './errno.js';

export class FaultInjector {
  private countdown = 0;
  private calls = 0;
  private firedSite: string | null = null;

  /** Makes the nth future `check` fail with ENOMEM (1 = the next one); 0 disarms. */
  arm(nth: number): void {
    if (!Number.isInteger(nth) || nth < 0) throw new RangeError(`fail-nth ${nth} must be a non-negative integer`);
    this.countdown = nth;
    this.firedSite = null;
  }

  /** True while an armed failure has not fired yet (the kernel's fail-nth file reads back non-zero). */
  get armed(): boolean {
    return this.countdown > 0;
  }

  /** True once the armed failure fired (until the next arm). */
  get fired(): boolean {
    return this.firedSite !== null;
  }

  /** The site the armed failure fired at, or null. */
  get firedAt(): string | null {
    return this.firedSite;
  }

  /** Allocation sites counted since creation; useful to size a fail-nth sweep. */
  get sites(): number {
    return this.calls;
  }

  /** Called by every allocation site; throws ENOMEM when it is the armed one. */
  check(site: string): void {
    this.calls++;
    if (this.countdown > 0 && --this.countdown === 0) {
      this.firedSite = site;
      throw new ErrnoError('ENOMEM', site, 'fail-nth injected allocation failure');
    }
  }
}
