// The VMM's file descriptors on the host: every ioctl goes through here and is counted by name.
import * as uapi from '@iommu-lab/iommu-core';
import type { IoctlArg, Process, Tracepoint } from '@iommu-lab/platform';
import { bump, type VmStats } from './stats.js';

const NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(uapi)) {
  // Request numbers are the _IO(';', nr) constants: IOMMU_* and VFIO_* whose value has type ';' (0x3b) in bits 15:8.
  if (typeof value === 'number' && /^(IOMMU|VFIO)_[A-Z0-9_]+$/.test(name) && value >>> 8 === 0x3b && !NAMES.has(value)) NAMES.set(value, name);
}

/** The kernel's name of an iommufd/VFIO ioctl request number. */
export function ioctlName(request: number): string {
  return NAMES.get(request) ?? `0x${request.toString(16)}`;
}

/** An fd of the VMM process whose ioctls are counted in `stats.hostIoctls` and traced. */
export class HostFd {
  constructor(
    readonly proc: Process,
    readonly fd: number,
    private readonly stats: () => VmStats,
    private readonly tp: Tracepoint,
  ) {}

  ioctl(request: number, arg?: IoctlArg): number {
    const name = ioctlName(request);
    bump(this.stats().hostIoctls, name);
    if (this.tp.enabled) this.tp.emit({ ioctl: name, fd: this.fd });
    return this.proc.ioctl(this.fd, request, arg);
  }

  close(): void {
    this.proc.close(this.fd);
  }
}
