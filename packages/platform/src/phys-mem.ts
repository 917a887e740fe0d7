// Host physical memory: RAM at [0, size) backed lazily in 2 MiB chunks; untouched RAM reads as zero.
import { ErrnoError } from './errno.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PHYS_ADDR_BITS = 52;

const CHUNK_SHIFT = 21;
/** log2 of the chunk size of PhysMem.chunks32. */
export const PHYS_CHUNK_SHIFT = CHUNK_SHIFT;
const CHUNK_SIZE = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK_SIZE - 1;
const ZERO = new ArrayBuffer(CHUNK_SIZE);
const ZERO8 = new Uint8Array(ZERO);
const ZERO32 = new Uint32Array(ZERO);
const ZERO64 = new BigUint64Array(ZERO);

/** The largest RAM size a host may have (the 52-bit space is larger; RAM is what is backed). */
export const MAX_RAM = 2 ** 40;

/**
 * Physical memory as the IOMMU hardware and DMA see it. Addresses are numbers (exact below 2^53).
 * Word accessors take naturally aligned addresses inside RAM; callers that take addresses from
 * untrusted tables check `contains` first. Bulk accessors check and throw EFAULT.
 */
export class PhysMem {
  readonly size: number;
  private readonly c8: Uint8Array[];
  private readonly c32: Uint32Array[];
  private readonly c64: BigUint64Array[];
  private touched = 0;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size <= 0 || size % CHUNK_SIZE !== 0 || size > MAX_RAM) {
      throw new RangeError(`RAM size ${size} must be a multiple of 2 MiB between 2 MiB and 1 TiB`);
    }
    this.size = size;
    const n = size / CHUNK_SIZE;
    this.c8 = new Array<Uint8Array>(n).fill(ZERO8);
    this.c32 = new Array<Uint32Array>(n).fill(ZERO32);
    this.c64 = new Array<BigUint64Array>(n).fill(ZERO64);
  }

  /** Bytes of RAM that have been written at least once (2 MiB granules). */
  get touchedBytes(): number {
    return this.touched * CHUNK_SIZE;
  }

  /** True when [pa, pa + length) lies inside RAM. */
  contains(pa: number, length = 1): boolean {
    return pa >= 0 && length >= 0 && pa + length <= this.size;
  }

  u8(pa: number): number {
    return this.c8[(pa / CHUNK_SIZE) | 0]![pa & CHUNK_MASK]!;
  }

  u16(pa: number): number {
    return this.u8(pa) | (this.u8(pa + 1) << 8);
  }

  /** The u32 at a 4-byte aligned address. */
  u32(pa: number): number {
    return this.c32[(pa / CHUNK_SIZE) | 0]![(pa & CHUNK_MASK) >>> 2]!;
  }

  /** The u64 at an 8-byte aligned address. */
  u64(pa: number): bigint {
    return this.c64[(pa / CHUNK_SIZE) | 0]![(pa & CHUNK_MASK) >>> 3]!;
  }

  setU8(pa: number, v: number): void {
    this.chunk8(pa)[pa & CHUNK_MASK] = v;
  }

  setU16(pa: number, v: number): void {
    this.setU8(pa, v & 0xff);
    this.setU8(pa + 1, (v >>> 8) & 0xff);
  }

  setU32(pa: number, v: number): void {
    const i = (pa / CHUNK_SIZE) | 0;
    let c = this.c32[i]!;
    if (c === ZERO32) {
      this.materialize(i);
      c = this.c32[i]!;
    }
    c[(pa & CHUNK_MASK) >>> 2] = v;
  }

  setU64(pa: number, v: bigint): void {
    const i = (pa / CHUNK_SIZE) | 0;
    let c = this.c64[i]!;
    if (c === ZERO64) {
      this.materialize(i);
      c = this.c64[i]!;
    }
    c[(pa & CHUNK_MASK) >>> 3] = BigInt.asUintN(64, v);
  }

  /**
   * The live array of 2 MiB chunk views in u32 words, for walkers that chase pointers: word
   * (pa % 2 MiB) / 4 of chunk pa >> PHYS_CHUNK_SHIFT; undefined past RAM. An untouched chunk is a
   * shared zero view that the first write replaces, so hold the array, not its elements, and
   * never write through it.
   */
  get chunks32(): readonly Uint32Array[] {
    return this.c32;
  }

  /** Reads the 8-byte entry at pa into out[0] (bits 31:0) and out[1] (bits 63:32); false outside RAM. */
  read64(pa: number, out: Uint32Array): boolean {
    if (pa < 0 || pa + 8 > this.size) return false;
    const c = this.c32[(pa / CHUNK_SIZE) | 0]!;
    const o = (pa & CHUNK_MASK) >>> 2;
    out[0] = c[o]!;
    out[1] = c[o + 1]!;
    return true;
  }

  /** Writes an 8-byte entry from its u32 halves; false outside RAM. */
  write64(pa: number, lo: number, hi: number): boolean {
    if (pa < 0 || pa + 8 > this.size) return false;
    const i = (pa / CHUNK_SIZE) | 0;
    let c = this.c32[i]!;
    if (c === ZERO32) {
      this.materialize(i);
      c = this.c32[i]!;
    }
    const o = (pa & CHUNK_MASK) >>> 2;
    c[o] = lo;
    c[o + 1] = hi;
    return true;
  }

  /** Copies [pa, pa + length) out of RAM. */
  read(pa: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(pa, out);
    return out;
  }

  readInto(pa: number, dst: Uint8Array): void {
    this.check(pa, dst.length);
    let done = 0;
    while (done < dst.length) {
      const a = pa + done;
      const off = a & CHUNK_MASK;
      const n = Math.min(dst.length - done, CHUNK_SIZE - off);
      dst.set(this.c8[(a / CHUNK_SIZE) | 0]!.subarray(off, off + n), done);
      done += n;
    }
  }

  write(pa: number, src: Uint8Array): void {
    this.check(pa, src.length);
    let done = 0;
    while (done < src.length) {
      const a = pa + done;
      const off = a & CHUNK_MASK;
      const n = Math.min(src.length - done, CHUNK_SIZE - off);
      this.chunk8(a).set(src.subarray(done, done + n), off);
      done += n;
    }
  }

  fill(pa: number, length: number, byte = 0): void {
    this.check(pa, length);
    let done = 0;
    while (done < length) {
      const a = pa + done;
      const off = a & CHUNK_MASK;
      const n = Math.min(length - done, CHUNK_SIZE - off);
      const i = (a / CHUNK_SIZE) | 0;
      if (byte !== 0 || this.c8[i] !== ZERO8) this.chunk8(a).fill(byte, off, off + n);
      done += n;
    }
  }

  /** Copies length bytes from srcPa to dstPa (non-overlapping or overlapping). */
  copy(dstPa: number, srcPa: number, length: number): void {
    this.write(dstPa, this.read(srcPa, length));
  }

  private check(pa: number, length: number): void {
    if (!this.contains(pa, length)) {
      throw new ErrnoError('EFAULT', 'phys', `[0x${pa.toString(16)}, +0x${length.toString(16)}) is outside RAM`);
    }
  }

  private chunk8(pa: number): Uint8Array {
    const i = (pa / CHUNK_SIZE) | 0;
    const c = this.c8[i]!;
    if (c !== ZERO8) return c;
    this.materialize(i);
    return this.c8[i]!;
  }

  private materialize(i: number): void {
    const buf = new ArrayBuffer(CHUNK_SIZE);
    this.c8[i] = new Uint8Array(buf);
    this.c32[i] = new Uint32Array(buf);
    this.c64[i] = new BigUint64Array(buf);
    this.touched++;
  }
}
