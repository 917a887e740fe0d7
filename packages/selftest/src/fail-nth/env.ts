// What iommufd_fail_nth.c's constructors set up: a host with the mock IOMMU, the test process, the 2 MiB buffers.
import { installIommufd } from '@iommu-lab/iommufd';
import { Host } from '@iommu-lab/platform';
import type { Env } from '../harness/env.js';
import { installSelftest } from '../install.js';

/** setup_buffer(): BUFFER_SIZE = 2*1024*1024. */
export const BUFFER_SIZE = 2 * 1024 * 1024;
/** Small RAM keeps the per-ioctl frame scans of the state checks cheap. */
const MEMORY = 64 * 1024 * 1024;

/**
 * setup_buffer(): `buffer` is shared anonymous memory, `mfd_buffer` a memfd mapping. Both are
 * populated now: in the kernel run, the first (uninjected) pass and its teardown fault them in
 * before the sweep starts, so the host's baseline (frames in use) is fixed from here on.
 */
export function failNthEnv(): Env & { stack: bigint } {
  const host = new Host({ memory: MEMORY });
  installIommufd(host);
  installSelftest(host);
  const proc = host.spawnProcess();
  const buffer = proc.mmap(BUFFER_SIZE, { shared: true, populate: true });
  const mfd = proc.memfdCreate('buffer');
  proc.ftruncate(mfd, BUFFER_SIZE);
  const mfd_buffer = proc.mmap(BUFFER_SIZE, { fd: mfd, shared: true, populate: true });
  const stack = proc.mmap(STACK_SIZE, { populate: true });
  return { host, proc, buffer, mfd_buffer, mfd, stack };
}

/** The test's stack: locals whose address an ioctl gets (ranges[10], tmp_big[4096], ...), faulted in once. */
export const STACK_SIZE = 64 * 1024;

/** Carves the locals of one test function out of the stack, 8-byte aligned. */
export class StackFrame {
  private sp: bigint;
  constructor(base: bigint) {
    this.sp = base;
  }

  alloca(bytes: number): bigint {
    const at = this.sp;
    this.sp += BigInt((bytes + 7) & ~7);
    return at;
  }
}
