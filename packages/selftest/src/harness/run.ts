// test_harness_run of kselftest_harness.h: filters, the listing and KTAP output with the kernel's totals.
import type { Suite, TestInstance } from './harness.js';

/** One -f/-F/-v/-V/-t/-T/-r option, in command-line order (the first match decides). */
export interface HarnessFilter {
  readonly opt: 'f' | 'F' | 'v' | 'V' | 't' | 'T' | 'r';
  readonly name: string;
}

export interface HarnessTotals {
  pass: number;
  fail: number;
  skip: number;
}

/** test_enabled: the first matching option decides; with only exclusions, everything else runs. */
export function testEnabled(c: TestInstance, filters: readonly HarnessFilter[]): boolean {
  let positive = false;
  for (const { opt, name } of filters) {
    positive ||= opt === opt.toLowerCase();
    const include = opt === opt.toLowerCase();
    switch (opt.toLowerCase()) {
      case 't':
        if (c.test === name) return include;
        break;
      case 'f':
        if (c.fixture.name === name) return include;
        break;
      case 'v':
        if (c.variant === name) return include;
        break;
      case 'r':
        if (c.fullName === name) return true;
        break;
    }
  }
  return !positive;
}

/** test_harness_list_tests: fixture, variant and test columns, a rule between fixtures. */
export function listTests(suite: Suite): string[] {
  const out: string[] = [];
  const pad = (s: string, n: number) => s.padEnd(n);
  suite.fixtures.forEach((f, i) => {
    out.push(i === 0 ? `${pad('# FIXTURE', 20)} ${pad('VARIANT', 25)} TEST` : '-'.repeat(80));
    const rows = Math.max(f.variants.length, f.tests.length, 1);
    for (let r = 0; r < rows; r++) {
      out.push(`${pad(r === 0 ? f.name : '', 20)} ${pad(f.variants[r]?.name ?? '', 25)} ${f.tests[r]?.name ?? ''}`.trimEnd());
    }
  });
  return out;
}

/**
 * Runs the enabled cases and prints KTAP as the kernel harness does; a SKIP counts as passed in
 * "N / M tests passed" and as skip in the totals. Returns the totals and the exit code (0 or 1).
 */
export function runHarness(suite: Suite, filters: readonly HarnessFilter[], print: (line: string) => void): { totals: HarnessTotals; exitCode: number } {
  const cases = suite.cases().filter((c) => testEnabled(c, filters));
  const caseCount = new Set(cases.map((c) => `${c.fixture.name}.${c.variant}`)).size;
  print('TAP version 13');
  print(`1..${cases.length}`);
  print(`# Starting ${cases.length} tests from ${caseCount} test cases.`);
  const totals: HarnessTotals = { pass: 0, fail: 0, skip: 0 };
  cases.forEach((c, i) => {
    print(`#  RUN           ${c.fullName} ...`);
    const o = c.run();
    for (const line of o.message ? o.message.split('\n') : []) if (o.result === 'fail') print(`# ${line}`);
    const ok = o.result !== 'fail';
    print(`# ${ok ? '           OK' : '         FAIL'}  ${c.fullName}`);
    if (o.result === 'skip') {
      totals.skip++;
      print(`ok ${i + 1} ${c.fullName} # SKIP ${o.message}`);
    } else if (ok) {
      totals.pass++;
      print(`ok ${i + 1} ${c.fullName}`);
    } else {
      totals.fail++;
      print(`not ok ${i + 1} ${c.fullName}`);
    }
  });
  const passed = totals.pass + totals.skip;
  print(`# ${totals.fail ? 'FAILED' : 'PASSED'}: ${passed} / ${cases.length} tests passed.`);
  if (totals.skip) print(`# ${totals.skip} skipped test(s) detected. Consider enabling relevant config options to improve coverage.`);
  print(`# Totals: pass:${totals.pass} fail:${totals.fail} xfail:0 xpass:0 skip:${totals.skip} error:0`);
  return { totals, exitCode: totals.fail ? 1 : 0 };
}
