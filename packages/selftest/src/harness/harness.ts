// A TypeScript counterpart of tools/testing/selftests/kselftest_harness.h: fixtures, variants, TEST_F, assertions.
import { type ErrnoName, errnoOf as errnoOfCall, isErrnoError } from '@iommu-lab/platform';

/** An ASSERT_* that failed: the test stops. */
export class AssertionFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionFailed';
  }
}

/** SKIP(): the test ends without passing or failing. */
export class TestSkipped extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'TestSkipped';
  }
}

/** struct __test_metadata: what a running test records. */
export class Metadata {
  failed = false;
  readonly log: string[] = [];
  constructor(readonly name: string) {}

  /** An EXPECT_* that failed: recorded, the test goes on. */
  expectFailed(message: string): void {
    this.failed = true;
    this.log.push(message);
  }
}

export interface FixtureDef<S, V> {
  readonly name: string;
  readonly create: (m: Metadata) => S;
  readonly variants: { name: string; value: V }[];
  setup?: (self: S, variant: V, m: Metadata) => void;
  teardown?: (self: S, variant: V, m: Metadata) => void;
  readonly tests: { name: string; fn: (self: S, variant: V, m: Metadata) => void }[];
}

/** A suite: fixtures in registration order, each with its variants and tests. */
export class Suite {
  readonly fixtures: FixtureDef<never, never>[] = [];

  FIXTURE<S>(name: string, create: (m: Metadata) => S): void {
    if (this.find(name)) throw new Error(`fixture ${name} defined twice`);
    this.fixtures.push({ name, create, variants: [], tests: [] } as unknown as FixtureDef<never, never>);
  }

  FIXTURE_VARIANT_ADD<V>(fixture: string, name: string, value: V): void {
    this.get(fixture).variants.push({ name, value: value as never });
  }

  FIXTURE_SETUP<S, V>(fixture: string, fn: (self: S, variant: V, m: Metadata) => void): void {
    this.get(fixture).setup = fn as never;
  }

  FIXTURE_TEARDOWN<S, V>(fixture: string, fn: (self: S, variant: V, m: Metadata) => void): void {
    this.get(fixture).teardown = fn as never;
  }

  TEST_F<S, V>(fixture: string, name: string, fn: (self: S, variant: V, m: Metadata) => void): void {
    this.get(fixture).tests.push({ name, fn: fn as never });
  }

  /** Every test instance in the harness's order: fixture, then variant, then test. */
  cases(): TestInstance[] {
    const out: TestInstance[] = [];
    for (const f of this.fixtures) {
      const variants = f.variants.length ? f.variants : [{ name: '', value: {} as never }];
      for (const v of variants) {
        for (const t of f.tests) {
          out.push(new TestInstance(f, v.name, v.value, t.name, t.fn));
        }
      }
    }
    return out;
  }

  private find(name: string): FixtureDef<never, never> | undefined {
    return this.fixtures.find((f) => f.name === name);
  }

  private get(name: string): FixtureDef<never, never> {
    const f = this.find(name);
    if (!f) throw new Error(`no fixture ${name}`);
    return f;
  }
}

export type Outcome = { result: 'pass' | 'fail' | 'skip'; message: string };

export class TestInstance {
  constructor(
    readonly fixture: FixtureDef<never, never>,
    readonly variant: string,
    private readonly variantValue: never,
    readonly test: string,
    private readonly fn: (self: never, variant: never, m: Metadata) => void,
  ) {}

  /** "fixture.variant.test", or "fixture.test" without variants, as the harness names it. */
  get fullName(): string {
    return [this.fixture.name, this.variant, this.test].filter(Boolean).join('.');
  }

  /** Runs setup, the test, then teardown (teardown runs even after a failed test, not after a failed setup). */
  run(): Outcome {
    const m = new Metadata(this.fullName);
    let self: never;
    try {
      self = this.fixture.create(m);
    } catch (e) {
      return outcome(m, e);
    }
    try {
      this.fixture.setup?.(self, this.variantValue, m);
    } catch (e) {
      return outcome(m, e);
    }
    let err: unknown = null;
    try {
      this.fn(self, this.variantValue, m);
    } catch (e) {
      err = e;
    }
    try {
      this.fixture.teardown?.(self, this.variantValue, m);
    } catch (e) {
      err ??= e;
    }
    return outcome(m, err);
  }
}

function outcome(m: Metadata, err: unknown): Outcome {
  if (err instanceof TestSkipped) return { result: 'skip', message: err.message };
  if (err) {
    m.log.push(err instanceof AssertionFailed ? err.message : err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err));
    return { result: 'fail', message: m.log.join('\n') };
  }
  return m.failed ? { result: 'fail', message: m.log.join('\n') } : { result: 'pass', message: '' };
}

function show(v: unknown): string {
  return typeof v === 'bigint' ? `${v} (0x${v.toString(16)})` : typeof v === 'number' ? `${v} (0x${v.toString(16)})` : String(v);
}

function same(a: unknown, b: unknown): boolean {
  if ((typeof a === 'bigint' || typeof a === 'number') && (typeof b === 'bigint' || typeof b === 'number')) {
    if (typeof a === 'number' && !Number.isInteger(a)) return a === b;
    if (typeof b === 'number' && !Number.isInteger(b)) return a === b;
    return BigInt(a) === BigInt(b);
  }
  return Object.is(a, b);
}

export function ASSERT_EQ(expected: unknown, seen: unknown, what = ''): void {
  if (!same(expected, seen)) throw new AssertionFailed(`ASSERT_EQ ${what}: expected ${show(expected)}, saw ${show(seen)}`);
}

export function ASSERT_NE(expected: unknown, seen: unknown, what = ''): void {
  if (same(expected, seen)) throw new AssertionFailed(`ASSERT_NE ${what}: both are ${show(seen)}`);
}

export function ASSERT_TRUE(v: unknown, what = ''): void {
  if (!v) throw new AssertionFailed(`ASSERT_TRUE ${what}: ${show(v)}`);
}

export function ASSERT_FALSE(v: unknown, what = ''): void {
  if (v) throw new AssertionFailed(`ASSERT_FALSE ${what}: ${show(v)}`);
}

function num(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  throw new AssertionFailed(`not an integer: ${String(v)}`);
}

/** ASSERT_LE(expected, seen): expected <= seen, in the harness's argument order. */
export function ASSERT_LE(expected: unknown, seen: unknown, what = ''): void {
  if (!(num(expected) <= num(seen))) throw new AssertionFailed(`ASSERT_LE ${what}: expected ${show(expected)} <= ${show(seen)}`);
}

export function ASSERT_LT(expected: unknown, seen: unknown, what = ''): void {
  if (!(num(expected) < num(seen))) throw new AssertionFailed(`ASSERT_LT ${what}: expected ${show(expected)} < ${show(seen)}`);
}

export function ASSERT_GE(expected: unknown, seen: unknown, what = ''): void {
  if (!(num(expected) >= num(seen))) throw new AssertionFailed(`ASSERT_GE ${what}: expected ${show(expected)} >= ${show(seen)}`);
}

export function ASSERT_GT(expected: unknown, seen: unknown, what = ''): void {
  if (!(num(expected) > num(seen))) throw new AssertionFailed(`ASSERT_GT ${what}: expected ${show(expected)} > ${show(seen)}`);
}

export function EXPECT_EQ(m: Metadata, expected: unknown, seen: unknown, what = ''): void {
  if (!same(expected, seen)) m.expectFailed(`EXPECT_EQ ${what}: expected ${show(expected)}, saw ${show(seen)}`);
}

/** EXPECT_ERRNO: the call must fail (an ASSERT), with this errno (an EXPECT). */
export function EXPECT_ERRNO(m: Metadata, expected: ErrnoName, call: () => unknown): void {
  try {
    call();
  } catch (e) {
    if (isErrnoError(e)) {
      if (e.code !== expected) m.expectFailed(`EXPECT_ERRNO: expected ${expected}, saw ${e.code} (${e.message})`);
      return;
    }
    throw e;
  }
  throw new AssertionFailed(`EXPECT_ERRNO: expected the call to fail with ${expected}, it succeeded`);
}

/** The errno name a call failed with, or null when it succeeded (errno after a C call). */
export function errnoOf(call: () => unknown): ErrnoName | null {
  const r = errnoOfCall(call);
  return r === 'ok' ? null : r;
}

export function SKIP(reason: string): never {
  throw new TestSkipped(reason);
}
