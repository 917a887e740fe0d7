// The shape of a benchmark case that `npm run bench` runs; packages export theirs from a ./bench subpath.

export interface BenchGoal {
  readonly op: '>=' | '<=';
  readonly value: number;
}

export interface BenchCase {
  /** What is measured ("phys u64 read"). */
  readonly name: string;
  /**
   * 'ops': fn() is timed and reported as operations per second (fn may do `opsPerCall`
   * operations per call); 'value': fn() returns the figure itself (ms, MiB, a ratio).
   */
  readonly kind: 'ops' | 'value';
  /** Unit of a 'value' case ("ms", "MiB", "x"). */
  readonly unit?: string;
  readonly opsPerCall?: number;
  /** The target from the issue, in ops/s or in `unit`. */
  readonly goal?: BenchGoal;
  /** 'value' cases: how many runs (the median is reported). */
  readonly runs?: number;
  /** 'value' cases: runs done first and discarded, so the JIT has compiled the hot paths. */
  readonly warmup?: number;
  setup?(): void;
  /** Returns the figure for a value case; an ops case returns nothing. */
  fn(): unknown;
  teardown?(): void;
}
