// A VT-d second-stage page table in guest RAM (Linux generic_pt vtdss format): no present bit, an entry is
// present when R or W is set; table entries are R|W|addr, leaves carry the mapping's R/W (and PS above level 1).
import type { PtMemory, TableAllocator } from '@iommu-lab/platform';
import { tableIndex } from '@iommu-lab/platform';

const R = 1;
const W = 2;
const PS = 1 << 7;

export class SsPageTable {
  readonly root: number;
  private readonly e = new Uint32Array(2);

  constructor(
    private readonly mem: PtMemory,
    private readonly alloc: TableAllocator,
    /** 3 (39-bit) or 4 (48-bit). */
    readonly levels: number,
  ) {
    this.root = alloc();
  }

  /** Maps vaPfn -> pfn at `level` (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) with R/W per `read`/`write`. */
  map(vaPfn: number, pfn: number, level: 1 | 2 | 3, read: boolean, write: boolean): void {
    const span = 2 ** (9 * (level - 1));
    if (vaPfn % span !== 0 || pfn % span !== 0) throw new RangeError(`level-${level} mapping needs ${span}-page alignment`);
    if (!read && !write) throw new RangeError('a second-stage leaf needs R or W');
    const pa = this.entryFor(vaPfn, level, true);
    const lo = ((pfn % 2 ** 20) * 4096 + ((read ? R : 0) | (write ? W : 0) | (level > 1 ? PS : 0))) >>> 0;
    this.mem.write64(pa, lo, Math.floor(pfn / 2 ** 20));
  }

  /** Clears the leaf for vaPfn at `level`; false when nothing was mapped there. */
  unmap(vaPfn: number, level: 1 | 2 | 3 = 1): boolean {
    const pa = this.entryFor(vaPfn, level, false);
    if (pa < 0) return false;
    this.mem.read64(pa, this.e);
    if ((this.e[0]! & (R | W)) === 0) return false;
    this.mem.write64(pa, 0, 0);
    return true;
  }

  /** The raw (lo, hi) entry at `level` for vaPfn, or null when a table on the way is missing. */
  entry(vaPfn: number, level: number): [number, number] | null {
    const pa = this.entryFor(vaPfn, level, false);
    if (pa < 0) return null;
    this.mem.read64(pa, this.e);
    return [this.e[0]!, this.e[1]!];
  }

  private entryFor(vaPfn: number, level: number, create: boolean): number {
    let table = this.root;
    for (let l = this.levels; l > level; l--) {
      const pa = table * 4096 + tableIndex(vaPfn, l) * 8;
      this.mem.read64(pa, this.e);
      const lo = this.e[0]!;
      if ((lo & (R | W)) === 0) {
        if (!create) return -1;
        const t = this.alloc();
        this.mem.write64(pa, ((t % 2 ** 20) * 4096 + (R | W)) >>> 0, Math.floor(t / 2 ** 20));
        table = t;
      } else {
        if ((lo & PS) !== 0) throw new RangeError(`a large page at level ${l} covers page 0x${vaPfn.toString(16)}`);
        table = (this.e[1]! & 0xfffff) * 2 ** 20 + (lo >>> 12);
      }
    }
    return table * 4096 + tableIndex(vaPfn, level) * 8;
  }
}
