// The guest's MMIO space: every access to an emulated device's registers is a VM exit, counted by cause.
import type { Tracepoint } from '@iommu-lab/platform';
import { bump, type VmStats } from './stats.js';

/** An emulated device's register window. Accesses are 4 or 8 bytes, naturally aligned. */
export interface MmioRegion {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  /** A register's name for exit accounting ("IQT_REG"), or undefined. */
  regName?(offset: number): string | undefined;
  read(offset: number, size: 4 | 8): bigint;
  write(offset: number, size: 4 | 8, value: bigint): void;
}

export class MmioBus {
  private readonly regions: MmioRegion[] = [];

  constructor(
    private readonly stats: () => VmStats,
    private readonly tp: Tracepoint,
  ) {}

  add(r: MmioRegion): void {
    if (this.regions.some((x) => x.base < r.base + r.size && r.base < x.base + x.size)) throw new RangeError(`MMIO region ${r.name} overlaps another`);
    this.regions.push(r);
  }

  private find(gpa: number, size: number): MmioRegion {
    const r = this.regions.find((x) => gpa >= x.base && gpa + size <= x.base + x.size);
    if (!r) throw new RangeError(`no MMIO region at 0x${gpa.toString(16)}`);
    return r;
  }

  private exit(kind: 'read' | 'write', r: MmioRegion, off: number): void {
    const cause = `mmio-${kind}:${r.name}:${r.regName?.(off) ?? `0x${off.toString(16)}`}`;
    bump(this.stats().vmExits, cause);
    if (this.tp.enabled) this.tp.emit({ exit: cause });
  }

  read(gpa: number, size: 4 | 8): bigint {
    const r = this.find(gpa, size);
    this.exit('read', r, gpa - r.base);
    return r.read(gpa - r.base, size);
  }

  write(gpa: number, size: 4 | 8, value: bigint): void {
    const r = this.find(gpa, size);
    this.exit('write', r, gpa - r.base);
    r.write(gpa - r.base, size, value);
  }
}
