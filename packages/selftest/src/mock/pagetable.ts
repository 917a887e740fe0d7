// The mock domain's page table: the AMDv1-style 2 KiB-granule table of the selftest, with IOPTEs of any
// power-of-two size and a dirty bit per IOPTE.
import { ErrnoError, type FaultInjector } from '@iommu-lab/platform';
import { MOCK_PAGE_SIZE } from '../uapi/iommufd-test.js';

export const MOCK_GRANULE = MOCK_PAGE_SIZE;
const SLOTS = 512;
const REGION = MOCK_GRANULE * SLOTS; // 1 MiB
/** What one level-1 table spans (512 level-0 tables). */
const L1_SPAN = REGION * SLOTS;

/** IOPTEs of up to 1 MiB live in per-MiB regions of 2 KiB slots. */
class Region {
  readonly pa = new Float64Array(SLOTS).fill(-1);
  readonly lg2 = new Uint8Array(SLOTS);
  readonly head = new Uint16Array(SLOTS);
  readonly prot = new Uint8Array(SLOTS);
  readonly dirty = new Uint8Array(SLOTS);
  used = 0;
}

interface BigPte {
  iova: number;
  size: number;
  pa: number;
  prot: number;
  dirty: boolean;
}

/** One leaf found by lookup: where it starts, how big it is, what it maps. */
export interface MockPte {
  iova: number;
  size: number;
  pa: number;
  prot: number;
}

export class MockPageTable {
  private readonly regions = new Map<number, Region>();
  private readonly big = new Map<number, BigPte>();
  private readonly bigSizes = new Set<number>();
  /** Level-1 tables (one per 512 MiB) and how many leaf tables or IOPTEs they hold. */
  private readonly mid = new Map<number, number>();

  /** The top table is allocated with the domain (pt_iommu_init); lower ones as mappings need them. */
  constructor(private readonly faults?: FaultInjector) {
    faults?.check('pt_iommu_init');
  }

  /** Installs one IOPTE of `size` (a power of two >= 2 KiB) at a size-aligned iova. EEXIST if anything is there. */
  map(iova: number, pa: number, size: number, prot: number): void {
    const k1 = Math.floor(iova / L1_SPAN);
    if (size > REGION) {
      if (this.lookup(iova) || this.anyIn(iova, size)) throw new ErrnoError('EEXIST', 'iommu_map', `mock IOVA 0x${iova.toString(16)} is mapped`);
      const inMid = size < L1_SPAN;
      if (inMid && !this.mid.has(k1)) this.faults?.check('pt_iommu_new_table');
      this.big.set(iova, { iova, size, pa, prot, dirty: false });
      this.bigSizes.add(size);
      if (inMid) this.mid.set(k1, (this.mid.get(k1) ?? 0) + 1);
      return;
    }
    let r = this.region(iova, false);
    const first = (iova % REGION) / MOCK_GRANULE;
    const n = size / MOCK_GRANULE;
    for (let i = first; r && i < first + n; i++) {
      if (r.lg2[i] !== 0) throw new ErrnoError('EEXIST', 'iommu_map', `mock IOVA 0x${(iova + (i - first) * MOCK_GRANULE).toString(16)} is mapped`);
    }
    if (this.bigCovering(iova)) throw new ErrnoError('EEXIST', 'iommu_map', `mock IOVA 0x${iova.toString(16)} is mapped`);
    if (!r) {
      // pt_iommu_new_table for the level-1 table if missing, then for the leaf table; nothing changes until both are had.
      if (!this.mid.has(k1)) this.faults?.check('pt_iommu_new_table');
      this.faults?.check('pt_iommu_new_table');
      r = this.region(iova, true)!;
      this.mid.set(k1, (this.mid.get(k1) ?? 0) + 1);
    }
    const lg2 = Math.round(Math.log2(size));
    for (let i = first; i < first + n; i++) {
      r.lg2[i] = lg2;
      r.head[i] = first;
      r.pa[i] = -1;
    }
    r.pa[first] = pa;
    r.prot[first] = prot;
    r.dirty[first] = 0;
    r.used += n;
  }

  /** Removes the IOPTE that starts at iova; returns its size, or 0 when none starts there. */
  unmap(iova: number): number {
    const b = this.big.get(iova);
    if (b) {
      this.big.delete(iova);
      if (b.size < L1_SPAN) this.putMid(iova);
      return b.size;
    }
    const r = this.region(iova, false);
    if (!r) return 0;
    const i = (iova % REGION) / MOCK_GRANULE;
    if (r.lg2[i] === 0 || r.head[i] !== i) return 0;
    const n = 2 ** r.lg2[i]! / MOCK_GRANULE;
    for (let k = i; k < i + n; k++) r.lg2[k] = 0;
    r.used -= n;
    if (r.used === 0) {
      this.regions.delete(Math.floor(iova / REGION));
      this.putMid(iova);
    }
    return n * MOCK_GRANULE;
  }

  /** A table unmap emptied is freed (through the gather's freelist). */
  private putMid(iova: number): void {
    const k1 = Math.floor(iova / L1_SPAN);
    const n = this.mid.get(k1)! - 1;
    if (n) this.mid.set(k1, n);
    else this.mid.delete(k1);
  }

  /** The IOPTE covering iova, or null. */
  lookup(iova: number): MockPte | null {
    const r = this.region(iova, false);
    if (r) {
      const i = Math.floor((iova % REGION) / MOCK_GRANULE);
      if (r.lg2[i] !== 0) {
        const h = r.head[i]!;
        return { iova: iova - (iova % REGION) + h * MOCK_GRANULE, size: 2 ** r.lg2[i]!, pa: r.pa[h]!, prot: r.prot[h]! };
      }
    }
    const b = this.bigCovering(iova);
    return b ? { iova: b.iova, size: b.size, pa: b.pa, prot: b.prot } : null;
  }

  /** The physical address iova translates to, or -1. */
  iovaToPhys(iova: number): number {
    const p = this.lookup(iova);
    return p ? p.pa + (iova - p.iova) : -1;
  }

  /** Marks the IOPTE covering iova dirty (what a device write would do); false when unmapped. */
  setDirty(iova: number): boolean {
    const b = this.bigCovering(iova);
    if (b) return (b.dirty = true);
    const r = this.region(iova, false);
    if (!r) return false;
    const i = Math.floor((iova % REGION) / MOCK_GRANULE);
    if (r.lg2[i] === 0) return false;
    r.dirty[r.head[i]!] = 1;
    return true;
  }

  /** Reports each dirty IOPTE overlapping [iova, iova + size) once, whole, clearing it unless noClear. */
  readAndClearDirty(iova: number, size: number, noClear: boolean, record: (iova: number, length: number) => void): void {
    let cur = iova;
    const end = iova + size;
    while (cur < end) {
      const b = this.bigCovering(cur);
      if (b) {
        if (b.dirty) {
          record(b.iova, b.size);
          if (!noClear) b.dirty = false;
        }
        cur = b.iova + b.size;
        continue;
      }
      const r = this.region(cur, false);
      if (!r) {
        cur = cur - (cur % REGION) + REGION;
        continue;
      }
      const i = Math.floor((cur % REGION) / MOCK_GRANULE);
      if (r.lg2[i] === 0) {
        cur += MOCK_GRANULE - (cur % MOCK_GRANULE);
        continue;
      }
      const h = r.head[i]!;
      const start = cur - (cur % REGION) + h * MOCK_GRANULE;
      const len = 2 ** r.lg2[i]!;
      if (r.dirty[h]) {
        record(start, len);
        if (!noClear) r.dirty[h] = 0;
      }
      cur = start + len;
    }
  }

  /** Every IOPTE, lowest IOVA first, and the number of lower tables (read-only inspection). */
  entries(): { ptes: MockPte[]; tables: number } {
    const ptes: MockPte[] = [...this.big.values()].map((b) => ({ iova: b.iova, size: b.size, pa: b.pa, prot: b.prot }));
    for (const [k, r] of this.regions) {
      for (let i = 0; i < SLOTS; i++) {
        if (r.lg2[i] !== 0 && r.head[i] === i) ptes.push({ iova: k * REGION + i * MOCK_GRANULE, size: 2 ** r.lg2[i]!, pa: r.pa[i]!, prot: r.prot[i]! });
      }
    }
    return { ptes: ptes.sort((a, b) => a.iova - b.iova), tables: this.regions.size + this.mid.size };
  }

  /** Number of IOPTEs (for tests and dumps). */
  get count(): number {
    let n = this.big.size;
    for (const r of this.regions.values()) for (let i = 0; i < SLOTS; i++) if (r.lg2[i] !== 0 && r.head[i] === i) n++;
    return n;
  }

  private region(iova: number, create: boolean): Region | undefined {
    const k = Math.floor(iova / REGION);
    let r = this.regions.get(k);
    if (!r && create) this.regions.set(k, (r = new Region()));
    return r;
  }

  private bigCovering(iova: number): BigPte | undefined {
    for (const size of this.bigSizes) {
      const b = this.big.get(iova - (iova % size));
      if (b && b.size === size) return b;
    }
    return undefined;
  }

  private anyIn(iova: number, size: number): boolean {
    for (const k of this.regions.keys()) if (k * REGION < iova + size && (k + 1) * REGION > iova) return true;
    for (const b of this.big.values()) if (b.iova < iova + size && b.iova + b.size > iova) return true;
    return false;
  }
}
