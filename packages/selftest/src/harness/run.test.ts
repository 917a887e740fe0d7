import { describe, expect, it } from 'vitest';
import { ASSERT_EQ, SKIP, Suite } from './harness.js';
import { type HarnessFilter, listTests, runHarness, testEnabled } from './run.js';

function demo(): Suite {
  const s = new Suite();
  s.FIXTURE('fa', () => ({}));
  s.FIXTURE_VARIANT_ADD('fa', 'v1', {});
  s.FIXTURE_VARIANT_ADD('fa', 'v2', {});
  s.TEST_F('fa', 'one', () => {});
  s.TEST_F('fa', 'two', (_s, v) => {
    if (v === undefined) throw new Error('no variant');
  });
  s.FIXTURE('fb', () => ({}));
  s.TEST_F('fb', 'bad', () => ASSERT_EQ(1, 2, 'x'));
  s.TEST_F('fb', 'skipped', () => SKIP('not here'));
  return s;
}

const names = (s: Suite, f: HarnessFilter[]) => s.cases().filter((c) => testEnabled(c, f)).map((c) => c.fullName);

describe('kselftest harness runner', () => {
  it('filters like test_enabled: first match decides, exclusions alone keep the rest', () => {
    const s = demo();
    expect(names(s, [{ opt: 'f', name: 'fb' }])).toEqual(['fb.bad', 'fb.skipped']);
    expect(names(s, [{ opt: 'T', name: 'one' }, { opt: 'v', name: 'v1' }])).toEqual(['fa.v1.two']);
    expect(names(s, [{ opt: 'V', name: 'v1' }])).toEqual(['fa.v2.one', 'fa.v2.two', 'fb.bad', 'fb.skipped']);
    expect(names(s, [{ opt: 'r', name: 'fa.v2.one' }])).toEqual(['fa.v2.one']);
    expect(names(s, [{ opt: 't', name: 'nothing' }])).toEqual([]);
  });

  it('prints KTAP with ok/not ok/# SKIP lines, the PASSED/FAILED line and the totals; exit 1 on a failure', () => {
    const lines: string[] = [];
    const r = runHarness(demo(), [], (l) => lines.push(l));
    expect(lines.slice(0, 3)).toEqual(['TAP version 13', '1..6', '# Starting 6 tests from 3 test cases.']);
    expect(lines.filter((l) => /^(not )?ok /.test(l))).toEqual([
      'ok 1 fa.v1.one',
      'ok 2 fa.v1.two',
      'ok 3 fa.v2.one',
      'ok 4 fa.v2.two',
      'not ok 5 fb.bad',
      'ok 6 fb.skipped # SKIP not here',
    ]);
    expect(lines.at(-1)).toBe('# Totals: pass:4 fail:1 xfail:0 xpass:0 skip:1 error:0');
    expect(lines).toContain('# FAILED: 5 / 6 tests passed.');
    expect(r.exitCode).toBe(1);
    expect(runHarness(demo(), [{ opt: 'f', name: 'fa' }], () => {}).exitCode).toBe(0);
  });

  it('lists fixture, variant and test columns', () => {
    expect(listTests(demo())).toEqual([
      '# FIXTURE            VARIANT                   TEST',
      'fa                   v1                        one',
      '                     v2                        two',
      '-'.repeat(80),
      'fb                                             bad',
      '                                               skipped',
    ]);
  });
});
