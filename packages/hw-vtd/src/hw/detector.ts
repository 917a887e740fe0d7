// The missing-invalidation detector: an IOTLB hit that disagrees with a fresh walk of the current tables.

export interface WalkedEntry {
  stage: 'first' | 'second';
  level: number;
  /** Host physical address of the entry. */
  pa: number;
  value: bigint;
}

export interface StaleTranslationReport {
  rid: number;
  did: number;
  pasid: number;
  /** The request's input address. */
  iova: bigint;
  access: number;
  /** What the IOTLB answered: output page, page level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB), permission bits. */
  cached: { pfn: number; level: number; perm: number };
  /** What the tables say now: a translation, or the fault a walk would raise. */
  fresh: { pfn: number; level: number; perm: number } | { fault: number; reasonName: string; stage: string; level: number };
  /** The leaf entries (or the failing entry) the fresh walk read, as they are in memory now. */
  entries: WalkedEntry[];
}

/** Off by default; when on, every IOTLB hit costs a side-effect-free walk. */
export class MissingInvalidationDetector {
  enabled = false;
  readonly reports: StaleTranslationReport[] = [];
  /** Reports beyond this many are counted, not kept. */
  limit = 1000;
  dropped = 0;
  onReport: ((r: StaleTranslationReport) => void) | null = null;

  report(r: StaleTranslationReport): void {
    if (this.reports.length < this.limit) this.reports.push(r);
    else this.dropped++;
    this.onReport?.(r);
  }

  clear(): void {
    this.reports.length = 0;
    this.dropped = 0;
  }
}
