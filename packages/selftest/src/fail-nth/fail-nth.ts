// The fail-nth sweep of iommufd_fail_nth.c: fail_nth_first/next/enable and TEST_FAIL_NTH on top of the harness.
import { iommufdSubsystem } from '@iommu-lab/iommufd';
import { type FaultInjector, isErrnoError, type Process } from '@iommu-lab/platform';
import type { Env } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_GT, AssertionFailed, errnoOf, type Metadata, type Suite } from '../harness/harness.js';
import { diffSnapshots, snapshot } from './snapshot.js';

/** struct fail_nth_state: the task's fail-nth knob and the sweep position. */
export interface FailNthState {
  faults: FaultInjector;
  iteration: number;
  /** Injection sites the uninjected pass went through after fail_nth_enable(): the sweep visits each once. */
  sitesAfterEnable: number;
  enabledAt: number;
}

/** What each TEST_FAIL_NTH's last sweep did (for the tests that check the sweep itself). */
export const failNthRuns = new Map<string, { iterations: number; sitesAfterEnable: number; enabledAt: number }>();

export function fail_nth_first(_metadata: Metadata, env: Env): FailNthState {
  return { faults: env.host.faults, iteration: 0, sitesAfterEnable: -1, enabledAt: -1 };
}

/** false once a pass completed without the injected failure firing (fail-nth still reads non-zero). */
export function fail_nth_next(_metadata: Metadata, nth_state: FailNthState, _test_result: number): boolean {
  // An arbitrary limit, as in the kernel test: more sites means raising it, not a failure of the code.
  ASSERT_GT(1000, nth_state.iteration, 'fail-nth iterations');
  if (nth_state.iteration !== 0) {
    const notFired = nth_state.faults.armed;
    nth_state.faults.arm(0);
    if (notFired) return false;
  } else if (nth_state.enabledAt >= 0) {
    nth_state.sitesAfterEnable = nth_state.faults.sites - nth_state.enabledAt;
  }
  nth_state.iteration++;
  return true;
}

/** __fail_nth_enable: the setup done so far was swept already; fail the iteration-th site from here. */
export function fail_nth_enable(_nth_state: FailNthState): void {
  if (!_nth_state.iteration) {
    _nth_state.enabledAt = _nth_state.faults.sites;
    return;
  }
  _nth_state.faults.arm(_nth_state.iteration);
}

/** `if (call) return -1;`: true when the call failed with an errno (any other throw is a test failure). */
export function failed(call: () => unknown): boolean {
  return errnoOf(call) !== null;
}

/**
 * The test process seen through its ioctls and opens: a call that fails with an errno must leave
 * the host exactly as it found it (objects, areas, pins, mappings, attachments, files, accounting).
 */
export function checkedProcess(env: Env, m: Metadata): Process {
  const proc = env.proc;
  const checked = <T>(what: string, call: () => T): T => {
    const before = snapshot(env.host);
    try {
      return call();
    } catch (e) {
      if (!isErrnoError(e)) throw e;
      const diff = diffSnapshots(before, snapshot(env.host));
      if (diff.length) {
        const why = env.host.faults.fired ? `injected at ${env.host.faults.firedAt}` : 'not injected';
        m.log.push(`${m.name}: ${what} failed with ${e.code} (${why}: ${e.message}) and changed state:\n  ${diff.join('\n  ')}`);
        throw new AssertionFailed(`${what} failed with ${e.code} (${why}) but changed state (see log)`);
      }
      throw e;
    }
  };
  return new Proxy(proc, {
    get(target, prop) {
      if (prop === 'ioctl') return (fd: number, request: number, arg?: never) => checked(ioctlName(env, fd, request, arg), () => target.ioctl(fd, request, arg));
      if (prop === 'open') return (path: string, flags?: number) => checked(`open(${path})`, () => target.open(path, flags));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** "ioctl(3, iommu_ioas_map)", with the op of an IOMMU_TEST_CMD. */
function ioctlName(env: Env, fd: number, request: number, arg: unknown): string {
  const op = iommufdSubsystem(env.host).ops.get(request & 0xff);
  const name = op && op.num === request ? op.codec.name : `0x${request.toString(16)}`;
  const testOp = typeof arg === 'object' && arg !== null && 'op' in arg ? ` op ${String((arg as { op: unknown }).op)}` : '';
  return `ioctl(${fd}, ${name}${testOp})`;
}

/** The host-wide state a teardown must return to: no frames, pins, files or devices left behind. */
export function hostBaseline(env: Env): string[] {
  return snapshot(env.host);
}

export function EXPECT_BASELINE(m: Metadata, env: Env, baseline: readonly string[]): void {
  const diff = diffSnapshots(baseline, snapshot(env.host));
  if (diff.length) m.expectFailed(`teardown left the host changed:\n  ${diff.join('\n  ')}`);
}

type TestFn<S> = (_metadata: Metadata, self: S, variant: object, _nth_state: FailNthState) => number;

/**
 * TEST_FAIL_NTH: runs the test once, then again with failure N = 1, 2, ... after a teardown and
 * setup each, until a pass completes without the injected failure firing.
 */
export function TEST_FAIL_NTH<S extends { env: Env }>(suite: Suite, fixture_name: string, name: string, test_nth: TestFn<S>): void {
  suite.TEST_F<S, object>(fixture_name, name, (self, variant, _metadata) => {
    const f = suite.fixtures.find((x) => x.name === fixture_name)!;
    const teardown = f.teardown as unknown as (s: S, v: object, m: Metadata) => void;
    const setup = f.setup as unknown as (s: S, v: object, m: Metadata) => void;
    const nth_state = fail_nth_first(_metadata, self.env);
    let test_result = 0;
    ASSERT_EQ(0, test_nth(_metadata, self, variant, nth_state), 'uninjected pass');
    while (fail_nth_next(_metadata, nth_state, test_result)) {
      teardown(self, variant, _metadata);
      setup(self, variant, _metadata);
      test_result = test_nth(_metadata, self, variant, nth_state);
    }
    failNthRuns.set(`${fixture_name}.${name}`, { iterations: nth_state.iteration, sitesAfterEnable: nth_state.sitesAfterEnable, enabledAt: nth_state.enabledAt });
    ASSERT_EQ(0, test_result, 'final pass');
  });
}
