// `npm run bench`: every package's benchmarks, a table with goals and ratios, then one JSON object.
import { formatTable, runCase, type BenchResult } from './run.js';
import { suites } from './suites.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const fi = args.indexOf('--filter');
  const filter = fi >= 0 ? new RegExp(args[fi + 1] ?? '', 'i') : null;
  const results: BenchResult[] = [];
  for (const suite of suites) {
    for (const c of suite.cases) {
      if (filter && !filter.test(`${suite.pkg} ${c.name}`)) continue;
      process.stderr.write(`running ${suite.pkg}: ${c.name} ...\n`);
      results.push(await runCase(suite.pkg, c));
    }
  }
  console.log(formatTable(results));
  console.log(JSON.stringify({ node: process.version, results }));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
