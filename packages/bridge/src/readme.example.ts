import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OP, runUnderBridge } from '@iommu-lab/bridge';
import { installIommufd } from '@iommu-lab/iommufd';
import { Host } from '@iommu-lab/platform';
import { installSelftest } from '@iommu-lab/selftest';

// The simulated kernel: /dev/iommu and the mock IOMMU of CONFIG_IOMMUFD_TEST.
const host = new Host({ memory: 2 ** 30 });
installIommufd(host);
installSelftest(host);

// An ordinary C program: an IOAS, a mock domain, 4 pinned pages; VmPin shows them, the kernel's errno reaches errno.
const dir = mkdtempSync(join(tmpdir(), 'bridge-example-'));
writeFileSync(
  join(dir, 'pin.c'),
  String.raw`#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
struct ioas_alloc { uint32_t size, flags, out_ioas_id; };
struct ioas_map { uint32_t size, flags, ioas_id, rsvd; uint64_t user_va, length, iova; };
struct test_cmd { uint32_t size, op, id, rsvd; uint32_t out[12]; uint32_t last; };
static long vmpin(void) {
  char line[128]; long v = -1; FILE *f = fopen("/proc/self/status", "r");
  while (fgets(line, sizeof(line), f)) if (!strncmp(line, "VmPin:", 6)) v = atol(line + 6);
  fclose(f); return v;
}
int main(void) {
  int fd = open("/dev/iommu", O_RDWR);
  struct ioas_alloc a = { sizeof(a) };
  if (ioctl(fd, _IO(';', 0x81), &a)) return 1;
  struct test_cmd mock = { sizeof(mock), 2 /* IOMMU_TEST_OP_MOCK_DOMAIN */, a.out_ioas_id };
  if (ioctl(fd, _IO(';', 0xa0), &mock)) return 2;
  void *buf = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct ioas_map m = { sizeof(m), 7 /* FIXED_IOVA | WRITEABLE | READABLE */, a.out_ioas_id, 0, (uintptr_t)buf, 4 * 4096, 1 << 24 };
  if (ioctl(fd, _IO(';', 0x85), &m) || vmpin() != 16) return 3;
  if (ioctl(fd, _IO(';', 0x85), &m) != -1 || errno != EEXIST) return 4;
  return 0;
}
`,
);
execFileSync('gcc', ['-o', join(dir, 'pin'), join(dir, 'pin.c')]);

// The program runs with the shim preloaded; the daemon serves it one simulated process.
const r = await runUnderBridge(host, { argv: [join(dir, 'pin')], stdio: 'inherit' });
assert.equal(r.code, 0);
assert.equal(r.stats.processes, 1);
assert.equal(r.stats.byOp[OP.IOCTL], 4);
// The program is gone: its simulated process exited and released every pin.
assert.equal(host.processes.length, 0);
