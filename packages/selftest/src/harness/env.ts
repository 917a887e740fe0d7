// What the kernel test binary has before main(): a host with the mock IOMMU, a process, the global buffers.
import { installIommufd } from '@iommu-lab/iommufd';
import { Host, type Process } from '@iommu-lab/platform';
import { installSelftest } from '../install.js';
import type { Metadata } from './harness.js';

export const PAGE_SIZE = 4096;
/** /sys/kernel/mm/transparent_hugepage/hpage_pmd_size on x86-64. */
export const HUGEPAGE_SIZE = 2 * 1024 * 1024;
export const BUFFER_SIZE = PAGE_SIZE * 16;

/** The test process and the globals setup_sizes() creates: `buffer` (shared anonymous) and `mfd_buffer` (a memfd). */
export class Env {
  readonly host: Host;
  readonly proc: Process;
  readonly buffer: bigint;
  readonly mfd_buffer: bigint;
  readonly mfd: number;

  constructor(memory = 1024 * 1024 * 1024) {
    this.host = new Host({ memory });
    installIommufd(this.host);
    installSelftest(this.host);
    this.proc = this.host.spawnProcess();
    // posix_memalign(HUGEPAGE_SIZE) then MAP_FIXED shared anonymous over it.
    const hole = this.proc.mmap(BUFFER_SIZE, { align: HUGEPAGE_SIZE });
    this.buffer = this.proc.mmap(BUFFER_SIZE, { fixed: hole, shared: true });
    this.mfd = this.proc.memfdCreate('buffer');
    this.proc.ftruncate(this.mfd, BUFFER_SIZE);
    this.mfd_buffer = this.proc.mmap(BUFFER_SIZE, { fd: this.mfd, shared: true });
  }
}

/** Every fixture's `self`: the env, the metadata and the iommufd fd the helpers act on. */
export interface SelfBase {
  env: Env;
  _metadata: Metadata;
  fd: number;
}

export function selfBase(m: Metadata, memory?: number): SelfBase {
  return { env: new Env(memory), _metadata: m, fd: -1 };
}
