// Guest RAM: one anonymous mapping of the VMM process laid out at the machine's GPAs; the guest CPU and the
// VMM reach it through its frames.
import { ErrnoError, PAGE_SIZE, PHYS_CHUNK_SHIFT, type PhysMem, type Process } from '@iommu-lab/platform';

/** A piece of RAM in the guest's physical address space, at `offset` into the VMM's mapping. */
export interface RamSection {
  readonly gpa: number;
  readonly size: number;
  readonly offset: number;
}

const GiB = 2 ** 30;
const CHUNK = 2 ** PHYS_CHUNK_SHIFT;

/** Non-zero bytes of a u32. */
function bytesSet(x: number): number {
  return ((x & 0xff) !== 0 ? 1 : 0) + ((x & 0xff00) !== 0 ? 1 : 0) + ((x & 0xff0000) !== 0 ? 1 : 0) + ((x >>> 24) !== 0 ? 1 : 0);
}

/** The machine's RAM layout: q35 puts what does not fit below the PCI hole above 4 GiB; virt starts at 1 GiB. */
export function ramLayout(machine: string, size: number): RamSection[] {
  if (machine === 'virt') return [{ gpa: GiB, size, offset: 0 }];
  // pc_q35_init: below_4g_mem_size is 2 GiB once RAM reaches 0xb0000000.
  const low = size >= 0xb000_0000 ? 2 * GiB : size;
  const out: RamSection[] = [{ gpa: 0, size: low, offset: 0 }];
  if (size > low) out.push({ gpa: 4 * GiB, size: size - low, offset: low });
  return out;
}

/** Guest RAM; it is also a PtMemory over GPAs for table builders and walkers. */
export class GuestRam {
  /** The VMM's virtual address of the RAM mapping. */
  readonly hva: bigint;
  private readonly base: number;
  /** Host frame of each page of the mapping once touched (0 = not yet); anonymous private pages keep their frame. */
  private readonly frames: Uint32Array;

  constructor(
    readonly vmm: Process,
    readonly size: number,
    private readonly mem: PhysMem,
    readonly sections: readonly RamSection[] = [{ gpa: 0, size, offset: 0 }],
  ) {
    this.hva = vmm.mmap(size, { name: 'pc.ram' });
    this.base = Number(this.hva);
    this.frames = new Uint32Array(size / PAGE_SIZE);
  }

  /** Offset into the VMM's mapping of a GPA, or -1 outside RAM. */
  offsetOf(gpa: number): number {
    for (const s of this.sections) if (gpa >= s.gpa && gpa < s.gpa + s.size) return s.offset + (gpa - s.gpa);
    return -1;
  }

  /** The host physical address of a guest physical address (what EPT gives the guest CPU). */
  pa(gpa: number): number {
    const off = this.offsetOf(gpa);
    if (off < 0) throw new ErrnoError('EFAULT', 'guest', `GPA 0x${gpa.toString(16)} is outside guest RAM`);
    return this.paAt(off);
  }

  /** The host physical address at an offset into the VMM's mapping. */
  private paAt(off: number): number {
    const page = Math.floor(off / PAGE_SIZE);
    let f = this.frames[page]!;
    if (f === 0) this.frames[page] = f = this.vmm.mm.fault(this.base + page * PAGE_SIZE, true);
    return f * PAGE_SIZE + (off % PAGE_SIZE);
  }

  contains(gpa: number, length = 1): boolean {
    const off = this.offsetOf(gpa);
    return off >= 0 && this.offsetOf(gpa + length - 1) === off + length - 1;
  }

  u64(gpa: number): bigint {
    return this.mem.u64(this.pa(gpa));
  }

  setU64(gpa: number, v: bigint): void {
    this.mem.setU64(this.pa(gpa), v);
  }

  u32(gpa: number): number {
    return this.mem.u32(this.pa(gpa));
  }

  setU32(gpa: number, v: number): void {
    this.mem.setU32(this.pa(gpa), v);
  }

  /** PtMemory over GPAs: the entry at gpa into out[0] (bits 31:0) and out[1] (bits 63:32); false outside RAM. */
  read64(gpa: number, out: Uint32Array): boolean {
    const off = this.offsetOf(gpa);
    if (off < 0 || gpa % 8 !== 0) return false;
    const pa = this.paAt(off);
    out[0] = this.mem.u32(pa);
    out[1] = this.mem.u32(pa + 4);
    return true;
  }

  /** PtMemory over GPAs: writes an 8-byte entry from its halves; false outside RAM. */
  write64(gpa: number, lo: number, hi: number): boolean {
    const off = this.offsetOf(gpa);
    if (off < 0 || gpa % 8 !== 0) return false;
    return this.mem.write64(this.paAt(off), lo >>> 0, hi >>> 0);
  }

  /** Bytes that differ between [a, a + length) and [b, b + length) (a data check without copies). */
  countDiff(a: number, b: number, length: number): number {
    let diff = 0;
    const c32 = this.mem.chunks32;
    for (let done = 0; done < length; ) {
      const n = Math.min(length - done, PAGE_SIZE - ((a + done) % PAGE_SIZE), PAGE_SIZE - ((b + done) % PAGE_SIZE));
      const pa = this.pa(a + done);
      const pb = this.pa(b + done);
      let i = 0;
      if (pa % 4 === 0 && pb % 4 === 0) {
        // Both pieces lie in one 2 MiB chunk each (a page never straddles a chunk).
        const ca = c32[(pa / CHUNK) | 0]!;
        const cb = c32[(pb / CHUNK) | 0]!;
        const ia = (pa % CHUNK) >>> 2;
        const ib = (pb % CHUNK) >>> 2;
        for (; i + 4 <= n; i += 4) {
          const x = ca[ia + (i >>> 2)]! ^ cb[ib + (i >>> 2)]!;
          if (x !== 0) diff += bytesSet(x);
        }
      }
      for (; i < n; i++) if (this.mem.u8(pa + i) !== this.mem.u8(pb + i)) diff++;
      done += n;
    }
    return diff;
  }

  /**
   * Bytes of [gpa, gpa + length) that differ from the repeating 8-byte little-endian pattern (lo, hi), whose
   * byte `phase` falls at gpa (a check that starts mid-pattern).
   */
  countPatternDiff(gpa: number, length: number, lo: number, hi: number, phase = 0): number {
    let diff = 0;
    const c32 = this.mem.chunks32;
    for (let done = 0; done < length; ) {
      const n = Math.min(length - done, PAGE_SIZE - ((gpa + done) % PAGE_SIZE));
      const pa = this.pa(gpa + done);
      let i = 0;
      if (pa % 8 === 0 && (phase + done) % 8 === 0) {
        const c = c32[(pa / CHUNK) | 0]!;
        const base = (pa % CHUNK) >>> 2;
        for (; i + 8 <= n; i += 8) {
          const w = base + (i >>> 2);
          const x = c[w]! ^ lo;
          const y = c[w + 1]! ^ hi;
          if ((x | y) !== 0) diff += bytesSet(x) + bytesSet(y);
        }
      }
      for (; i < n; i++) {
        const k = (phase + done + i) & 7;
        const want = (k < 4 ? lo >>> (8 * k) : hi >>> (8 * (k - 4))) & 0xff;
        if (this.mem.u8(pa + i) !== want) diff++;
      }
      done += n;
    }
    return diff;
  }

  /** Fills [gpa, gpa + length) with one byte value. */
  fill(gpa: number, length: number, byte: number): void {
    for (let done = 0; done < length; ) {
      const n = Math.min(length - done, PAGE_SIZE - ((gpa + done) % PAGE_SIZE));
      this.mem.fill(this.pa(gpa + done), n, byte);
      done += n;
    }
  }

  read(gpa: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const n = Math.min(length - done, PAGE_SIZE - ((gpa + done) % PAGE_SIZE));
      this.mem.readInto(this.pa(gpa + done), out.subarray(done, done + n));
      done += n;
    }
    return out;
  }

  write(gpa: number, bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length; ) {
      const n = Math.min(bytes.length - done, PAGE_SIZE - ((gpa + done) % PAGE_SIZE));
      this.mem.write(this.pa(gpa + done), bytes.subarray(done, done + n));
      done += n;
    }
  }

  /** The VMM's address for a GPA, for IOAS_MAP of guest memory. */
  hvaOf(gpa: number): bigint {
    const off = this.offsetOf(gpa);
    if (off < 0) throw new ErrnoError('EFAULT', 'guest', `GPA 0x${gpa.toString(16)} is outside guest RAM`);
    return this.hva + BigInt(off);
  }
}
