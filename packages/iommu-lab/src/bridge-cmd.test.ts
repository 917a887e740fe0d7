import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { program } from './cli.js';

async function bridge(...argv: string[]): Promise<number> {
  let code = -1;
  await program((c) => (code = c)).parseAsync(['node', 'iommu-lab', 'bridge', ...argv]);
  return code;
}

describe('iommu-lab bridge', () => {
  it("runs a C program against the simulated /dev/iommu and exits with the program's status", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bridge-cmd-'));
    // IOMMU_IOAS_ALLOC is _IO(';', 0x81); struct iommu_ioas_alloc is { size, flags, out_ioas_id }.
    writeFileSync(
      join(dir, 'p.c'),
      `#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
int main(void) {
  struct { uint32_t size, flags, out_ioas_id; } a = { sizeof(a), 0, 0 };
  int fd = open("/dev/iommu", O_RDWR);
  if (fd < 0 || ioctl(fd, _IO(';', 0x81), &a)) return 10;
  return a.out_ioas_id == 1 ? 7 : 11;
}
`,
    );
    execFileSync('gcc', ['-o', join(dir, 'p'), join(dir, 'p.c')]);
    expect(await bridge(join(dir, 'p'))).toBe(7);
  });

  it('reports a signal as 128 + its number', async () => {
    expect(await bridge('--', '/bin/sh', '-c', 'kill -TERM $$')).toBe(128 + 15);
  });
});
