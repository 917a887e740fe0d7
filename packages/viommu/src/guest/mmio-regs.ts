// readl/writel/readq/writeq of a device's registers from the guest: each access is an MMIO VM exit.
import type { MmioBus } from '../vm/mmio.js';

export class GuestMmio {
  constructor(
    private readonly bus: MmioBus,
    readonly base: number,
  ) {}

  readl(off: number): number {
    return Number(this.bus.read(this.base + off, 4));
  }

  writel(off: number, v: number): void {
    this.bus.write(this.base + off, 4, BigInt(v >>> 0));
  }

  readq(off: number): bigint {
    return this.bus.read(this.base + off, 8);
  }

  writeq(off: number, v: bigint): void {
    this.bus.write(this.base + off, 8, BigInt.asUintN(64, v));
  }

  /** IOMMU_WAIT_OP: polls a 32-bit register until cond holds (each poll is an exit); throws after `tries`. */
  waitl(off: number, cond: (v: number) => boolean, what: string, tries = 1000): number {
    for (let i = 0; i < tries; i++) {
      const v = this.readl(off);
      if (cond(v)) return v;
    }
    throw new Error(`DMAR hardware is malfunctioning: ${what} did not complete`);
  }
}
