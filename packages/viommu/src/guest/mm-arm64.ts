// An AArch64 process (arch/arm64): VMSAv8-64 4 KiB-granule tables in guest RAM rooted at TTBR0_EL1, 48-bit VAs,
// user pages as Linux maps them (EL0 access, nG, AF, inner-shareable, MT_NORMAL), writable only once written.
import { A64, A64PageTable, A64Walk, type A64WalkConfig, PAGE_SIZE, walkA64 } from '@iommu-lab/platform';
import type { GuestRam } from '../vm/guest-ram.js';
import { GuestProcessMm } from './mm.js';
import type { GuestPageAllocator } from './page-alloc.js';

/** VA_BITS (vabits_actual) with 4 KiB pages and 4 levels. */
export const ARM64_VA_BITS = 48;
/** The guest CPU's ID_AA64MMFR0_EL1: PARange 0b0101 (48-bit PAs), ASIDBits 0b0010 (16-bit ASIDs). */
export const ARM64_PARANGE = 5;
export const ARM64_PA_BITS = 48;
export const ARM64_ASID_BITS = 16;
/** MAIR_EL1 as Linux programs it: MT_NORMAL 0xff (0), MT_NORMAL_TAGGED 0xf0 (1), MT_NORMAL_NC 0x44 (2), DEVICE_nGnRnE 0 (3), DEVICE_nGnRE 0x04 (4). */
export const ARM64_MAIR_EL1 = 0x0000_0004_0044_f0ffn;
const MT_NORMAL = 0;
const SH_INNER = 3;

export class GuestMmArm64 extends GuestProcessMm {
  readonly pt: A64PageTable;
  private readonly walk = new A64Walk();
  private readonly walkCfg: A64WalkConfig;

  constructor(pid: number, ram: GuestRam, pages: GuestPageAllocator) {
    super(pid, ram, pages);
    this.pt = new A64PageTable(ram, () => this.tablePage(), { stage: 1, inputBits: ARM64_VA_BITS });
    this.walkCfg = { stage: 1, startLevel: this.pt.startLevel, inputBits: ARM64_VA_BITS, outputBits: 48, accessFlagFaults: false };
  }

  /** TTBR0_EL1's base address: the GPA of the level-0 table. */
  get ttbr0(): number {
    return this.pt.root * PAGE_SIZE;
  }

  get pgd(): number {
    return this.ttbr0;
  }

  present(vaPfn: number): number {
    return this.lookup(vaPfn) ? this.walk.pfn : -1;
  }

  protected writable(vaPfn: number): boolean {
    return this.lookup(vaPfn) && this.walk.write;
  }

  /** A young page; read-only (clean) until a write brings it in, like a page without hardware dirty state. */
  protected mapPage(vaPfn: number, pfn: number, vmaWrite: boolean, writeAccess: boolean): void {
    this.pt.map(vaPfn, pfn, 3, { user: true, write: vmaWrite && writeAccess, attrIndx: MT_NORMAL, sh: SH_INNER });
  }

  protected unmapPage(vaPfn: number): void {
    this.pt.unmap(vaPfn, 3);
  }

  private lookup(vaPfn: number): boolean {
    return walkA64(this.ram, this.pt.root, vaPfn, this.walkCfg, this.walk) && (this.walk.lo & A64.VALID) !== 0;
  }
}
