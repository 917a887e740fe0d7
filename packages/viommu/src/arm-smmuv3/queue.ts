// SMMUQueue: a circular queue in guest RAM as the unit sees it (IHI0070 3.5): BASE, and PROD/CONS whose bits
// [log2size-1:0] index the entry and bit [log2size] is the wrap flag; higher bits (CONS.ERR, OVFLG) ride along.
import { queueEmpty, queueFull, queueIdx, queueInc } from '@iommu-lab/hw-smmuv3/format';

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

  empty(): boolean {
    return queueEmpty(this.prod, this.cons, this.log2size);
  }

  full(): boolean {
    return queueFull(this.prod, this.cons, this.log2size);
  }

  /** GPA of the entry CONS points at. */
  consEntry(): number {
    return this.addr + queueIdx(this.cons, this.log2size) * this.entrySize;
  }

  prodEntry(): number {
    return this.addr + queueIdx(this.prod, this.log2size) * this.entrySize;
  }

  /** queue_cons_incr: the index and wrap advance together; the other bits stay. */
  consIncr(): void {
    this.cons = queueInc(this.cons, this.log2size);
  }

  prodIncr(): void {
    this.prod = queueInc(this.prod, this.log2size);
  }
}
