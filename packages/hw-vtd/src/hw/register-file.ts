// The raw remapping register space (VT-d spec 10.4): little-endian storage; semantics live in mmio.ts.

export class RegisterFile {
  private readonly dv: DataView;

  constructor(readonly size: number) {
    this.dv = new DataView(new ArrayBuffer(size));
  }

  r32(off: number): number {
    return this.dv.getUint32(off, true);
  }

  w32(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, true);
  }

  r64(off: number): bigint {
    return this.dv.getBigUint64(off, true);
  }

  w64(off: number, v: bigint): void {
    this.dv.setBigUint64(off, BigInt.asUintN(64, v), true);
  }

  /** Sets (on) or clears the bits of `mask` in the 32-bit register at off. */
  set32(off: number, mask: number, on: boolean): void {
    const v = this.r32(off);
    this.w32(off, on ? v | mask : v & ~mask);
  }
}
