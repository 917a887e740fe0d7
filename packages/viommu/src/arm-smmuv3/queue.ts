// SMMUQueue: a circular queue in guest RAM as the unit sees it (IHI0070 3.5): BASE, and PROD/CONS whose bits
// [log2size-1:0] index the entry and bit [log2size] is the wrap flag; higher bits (CONS.ERR, OVFLG) ride along.

export class SmmuV3Queue {
  /** The BASE register as written (bits 31:0 and 63:32). */
  baseLo = 0;
  baseHi = 0;
  log2size = 0;
  prod = 0;
  cons = 0;

  constructor(
    readonly entrySize: number,
    /** The largest log2size the unit supports (IDR1.CMDQS / EVENTQS). */
    readonly maxLog2size: number,
  ) {}

  /** A BASE write: LOG2SIZE [4:0] is capped at the unit's maximum, as QEMU caps it. */
  setBase(lo: number, hi: number): void {
    this.baseLo = lo >>> 0;
    this.baseHi = hi >>> 0;
    this.log2size = Math.min(lo & 0x1f, this.maxLog2size);
  }

  /** ADDR [51:5] of BASE. */
  get addr(): number {
    return (this.baseHi & 0xfffff) * 2 ** 32 + ((this.baseLo & ~0x1f) >>> 0);
  }

  /** Index and wrap bits. */
  private get mask(): number {
    return 2 ** (this.log2size + 1) - 1;
  }

  empty(): boolean {
    return ((this.prod ^ this.cons) & this.mask) === 0;
  }

  /** Same index, different wrap bit. */
  full(): boolean {
    return ((this.prod ^ this.cons) & this.mask) === 2 ** this.log2size;
  }

  /** GPA of the entry CONS points at. */
  consEntry(): number {
    return this.addr + (this.cons & (2 ** this.log2size - 1)) * this.entrySize;
  }

  prodEntry(): number {
    return this.addr + (this.prod & (2 ** this.log2size - 1)) * this.entrySize;
  }

  /** queue_cons_incr: the index and wrap advance together; the other bits stay. */
  consIncr(): void {
    const m = this.mask;
    this.cons = ((this.cons & ~m) | ((this.cons + 1) & m)) >>> 0;
  }

  prodIncr(): void {
    const m = this.mask;
    this.prod = ((this.prod & ~m) | ((this.prod + 1) & m)) >>> 0;
  }

  /** Entries between CONS and PROD. */
  used(): number {
    return ((this.prod & this.mask) - (this.cons & this.mask) + 2 ** (this.log2size + 1)) % 2 ** (this.log2size + 1);
  }
}
