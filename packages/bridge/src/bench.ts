// Benchmarks: the cost of one system call of a real program through the bridge.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchCase } from '@iommu-lab/platform';

/** 20 000 IOMMU_OPTION(GET) ioctls, timed by the program itself; prints microseconds per call. */
const PROGRAM = String.raw`#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
struct ioas_alloc { uint32_t size, flags, out_ioas_id; };
struct option { uint32_t size, option_id; uint16_t op, rsvd; uint32_t object_id; uint64_t val64; };
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  int fd = open("/dev/iommu", O_RDWR);
  struct ioas_alloc a = { sizeof(a) };
  if (ioctl(fd, _IO(';', 0x81), &a)) return 1;
  /* IOMMU_OPTION_HUGE_PAGES (1), IOMMU_OPTION_OP_GET (1) on the IOAS */
  struct option o = { sizeof(o), 1, 1, 0, a.out_ioas_id, 0 };
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < n; i++) if (ioctl(fd, _IO(';', 0x87), &o)) return 2;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.3f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n);
  return 0;
}
`;

/** The daemon runs in a child Node process (the bench harness is synchronous), from the built package. */
const RUNNER = `
import { Host } from '@iommu-lab/platform';
import { installIommufd } from '@iommu-lab/iommufd';
import { installSelftest } from '@iommu-lab/selftest';
import { runUnderBridge } from '@iommu-lab/bridge';
const host = new Host({ memory: 2 ** 30 });
installIommufd(host);
installSelftest(host);
const r = await runUnderBridge(host, { argv: process.argv.slice(1), stdio: ['ignore', 'inherit', 'inherit'] });
process.exitCode = r.code ?? 1;
`;

let program = '';

export const benchmarks: BenchCase[] = [
  {
    // The budget: ./iommufd (about 292 000 system calls) in under 60 s, so at most ~200 us each.
    name: 'ioctl round trip through the bridge (us per call)',
    kind: 'value',
    unit: 'us',
    runs: 3,
    goal: { op: '<=', value: 200 },
    setup() {
      const dir = mkdtempSync(join(tmpdir(), 'bridge-bench-'));
      writeFileSync(join(dir, 'bench.c'), PROGRAM);
      program = join(dir, 'bench');
      execFileSync('gcc', ['-O2', '-o', program, join(dir, 'bench.c')]);
    },
    fn() {
      const cwd = join(dirname(fileURLToPath(import.meta.url)), '..');
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', RUNNER, program, '20000'], { encoding: 'utf8', cwd });
      if (r.status !== 0) throw new Error(`bridge bench failed: ${r.stderr}`);
      return Number(r.stdout.trim());
    },
  },
];
