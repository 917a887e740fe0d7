// Named trace events (QEMU trace-events / kernel tracepoints): off by default, one boolean test when off.

export type TraceArgs = Record<string, unknown>;

/** One recorded event in Chrome trace format terms: instant ('i') or complete ('X', with dur). */
export interface TraceEvent {
  name: string;
  cat: string;
  ph: 'i' | 'X';
  /** Microseconds since the tracer was created. */
  ts: number;
  dur?: number;
  /** The track the event belongs to (a device, an IOMMU, the VMM, the guest). */
  track: string;
  args?: TraceArgs;
}

/**
 * A call site tests `enabled` before building arguments, so a disabled point costs one property
 * load and a branch:  if (tp.enabled) tp.emit({ iova });
 */
export class Tracepoint {
  enabled = false;
  constructor(
    readonly name: string,
    readonly cat: string,
    private readonly tracer: Tracer,
  ) {}

  /** Records an instant event. */
  emit(args?: TraceArgs, track?: string): void {
    this.tracer.record({ name: this.name, cat: this.cat, ph: 'i', ts: this.tracer.now(), track: track ?? this.cat, args });
  }

  /** Microseconds now, for a later complete(). */
  now(): number {
    return this.tracer.now();
  }

  /** Records a duration event that started at `start` (from now()). */
  complete(start: number, args?: TraceArgs, track?: string): void {
    const ts = this.tracer.now();
    this.tracer.record({ name: this.name, cat: this.cat, ph: 'X', ts: start, dur: Math.max(ts - start, 0), track: track ?? this.cat, args });
  }
}

function jsonArgs(args: TraceArgs): TraceArgs {
  const out: TraceArgs = {};
  for (const [k, v] of Object.entries(args)) out[k] = typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
  return out;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** The event recorder of one host. */
export class Tracer {
  private readonly points = new Map<string, Tracepoint>();
  private readonly patterns: { re: RegExp; on: boolean }[] = [];
  private readonly origin = performance.now();
  readonly events: TraceEvent[] = [];
  /** Events beyond this many are dropped (and counted) so a long run cannot exhaust memory. */
  limit = 1_000_000;
  dropped = 0;

  /** The tracepoint called `name`, created on first use; its state follows enable()/disable(). */
  point(name: string, cat = 'misc'): Tracepoint {
    let tp = this.points.get(name);
    if (!tp) {
      tp = new Tracepoint(name, cat, this);
      tp.enabled = this.decide(name);
      this.points.set(name, tp);
    }
    return tp;
  }

  /** Enables every tracepoint matching a glob ('vtd_*', '*'), now and when created later. */
  enable(pattern = '*'): void {
    this.patterns.push({ re: globToRegExp(pattern), on: true });
    for (const tp of this.points.values()) tp.enabled = this.decide(tp.name);
  }

  disable(pattern = '*'): void {
    this.patterns.push({ re: globToRegExp(pattern), on: false });
    for (const tp of this.points.values()) tp.enabled = this.decide(tp.name);
  }

  /** Names of the tracepoints created so far, sorted. */
  list(): string[] {
    return [...this.points.keys()].sort();
  }

  now(): number {
    return Math.round((performance.now() - this.origin) * 1000) / 1000;
  }

  record(e: TraceEvent): void {
    if (this.events.length >= this.limit) {
      this.dropped++;
      return;
    }
    this.events.push(e);
  }

  clear(): void {
    this.events.length = 0;
    this.dropped = 0;
  }

  /** The events as Chrome trace JSON (Perfetto and chrome://tracing open it); tracks become threads. */
  toChromeTrace(processName = 'iommu-lab'): { traceEvents: object[]; displayTimeUnit: string } {
    const tids = new Map<string, number>();
    const tid = (track: string) => {
      let t = tids.get(track);
      if (t === undefined) tids.set(track, (t = tids.size + 1));
      return t;
    };
    const traceEvents: object[] = this.events.map((e) => ({
      name: e.name,
      cat: e.cat,
      ph: e.ph,
      ts: e.ts,
      ...(e.ph === 'X' ? { dur: e.dur } : { s: 't' }),
      pid: 1,
      tid: tid(e.track),
      ...(e.args ? { args: jsonArgs(e.args) } : {}),
    }));
    traceEvents.unshift({ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: processName } });
    for (const [track, t] of tids) traceEvents.push({ name: 'thread_name', ph: 'M', pid: 1, tid: t, args: { name: track } });
    return { traceEvents, displayTimeUnit: 'ns' };
  }

  private decide(name: string): boolean {
    let on = false;
    for (const p of this.patterns) if (p.re.test(name)) on = p.on;
    return on;
  }
}
