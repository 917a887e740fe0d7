// The emulated register file: values with write, write-1-to-clear and write-only masks (vtd_define_long/quad).
import { VTD_FRCD_REG_OFFSET, VTD_IOTLB_REG_OFFSET } from '@iommu-lab/hw-vtd/format';

/** Where the q35 machine puts the DMAR unit (Q35_HOST_BRIDGE_IOMMU_ADDR). */
export const Q35_HOST_BRIDGE_IOMMU_ADDR = 0xfed9_0000;
/** The register window: up to the virtual command capability register (0xe30) when VCMD is emulated. */
export const DMAR_REG_SIZE = 0xe40;
export const DMAR_IVA_REG = VTD_IOTLB_REG_OFFSET;
export const DMAR_IOTLB_REG = VTD_IOTLB_REG_OFFSET + 8;
export const DMAR_FRCD_REG_NR = 1;
export const DMAR_PMEN_REG = 0x64;
export const DMAR_IRTA_REG = 0xb8;

/** Register names as the kernel's intel/iommu.h spells them, for exit accounting ("IQT_REG"). */
const NAMES: Record<number, string> = {
  0x00: 'VER_REG',
  0x08: 'CAP_REG',
  0x0c: 'CAP_REG_HI',
  0x10: 'ECAP_REG',
  0x14: 'ECAP_REG_HI',
  0x18: 'GCMD_REG',
  0x1c: 'GSTS_REG',
  0x20: 'RTADDR_REG',
  0x24: 'RTADDR_REG_HI',
  0x28: 'CCMD_REG',
  0x2c: 'CCMD_REG_HI',
  0x34: 'FSTS_REG',
  0x38: 'FECTL_REG',
  0x3c: 'FEDATA_REG',
  0x40: 'FEADDR_REG',
  0x44: 'FEUADDR_REG',
  0x64: 'PMEN_REG',
  0x80: 'IQH_REG',
  0x84: 'IQH_REG_HI',
  0x88: 'IQT_REG',
  0x8c: 'IQT_REG_HI',
  0x90: 'IQA_REG',
  0x94: 'IQA_REG_HI',
  0x9c: 'ICS_REG',
  0xa0: 'IECTL_REG',
  0xa4: 'IEDATA_REG',
  0xa8: 'IEADDR_REG',
  0xac: 'IEUADDR_REG',
  0xb0: 'IQER_REG',
  0xb4: 'IQER_REG_HI',
  0xb8: 'IRTA_REG',
  0xbc: 'IRTA_REG_HI',
  0xc0: 'PQH_REG',
  0xc4: 'PQH_REG_HI',
  0xc8: 'PQT_REG',
  0xcc: 'PQT_REG_HI',
  0xd0: 'PQA_REG',
  0xd4: 'PQA_REG_HI',
  0xdc: 'PRS_REG',
  0xe0: 'PECTL_REG',
  0xe4: 'PEDATA_REG',
  0xe8: 'PEADDR_REG',
  0xec: 'PEUADDR_REG',
  0xe00: 'VCMD_REG',
  0xe04: 'VCMD_REG_HI',
  0xe10: 'VCRSP_REG',
  0xe14: 'VCRSP_REG_HI',
  0xe30: 'VCCAP_REG',
  0xe34: 'VCCAP_REG_HI',
  [DMAR_IVA_REG]: 'IVA_REG',
  [DMAR_IVA_REG + 4]: 'IVA_REG_HI',
  [DMAR_IOTLB_REG]: 'IOTLB_REG',
  [DMAR_IOTLB_REG + 4]: 'IOTLB_REG_HI',
  [VTD_FRCD_REG_OFFSET]: 'FRCD_REG_0_0',
  [VTD_FRCD_REG_OFFSET + 4]: 'FRCD_REG_0_1',
  [VTD_FRCD_REG_OFFSET + 8]: 'FRCD_REG_0_2',
  [VTD_FRCD_REG_OFFSET + 12]: 'FRCD_REG_0_3',
};

export function vtdRegName(offset: number): string | undefined {
  return NAMES[offset];
}

/**
 * csr/wmask/w1cmask/womask: a guest write keeps the bits outside wmask, takes the bits inside it,
 * and clears the w1c bits written as 1; a guest read hides the write-only bits.
 */
export class VtdCsr {
  private readonly csr = new Uint32Array(DMAR_REG_SIZE / 4);
  private readonly wmask = new Uint32Array(DMAR_REG_SIZE / 4);
  private readonly w1cmask = new Uint32Array(DMAR_REG_SIZE / 4);
  private readonly womask = new Uint32Array(DMAR_REG_SIZE / 4);

  reset(): void {
    this.csr.fill(0);
    this.wmask.fill(0);
    this.w1cmask.fill(0);
    this.womask.fill(0);
  }

  defineLong(addr: number, val: number, wmask: number, w1c: number, wo = 0): void {
    const i = addr >>> 2;
    this.csr[i] = val;
    this.wmask[i] = wmask;
    this.w1cmask[i] = w1c;
    this.womask[i] = wo;
  }

  /** A quad as its two longs: [lo, hi] for value, wmask, w1c and write-only masks. */
  defineQuad(addr: number, val: bigint, wmask: bigint, w1c: bigint, wo = 0n): void {
    const lo = (x: bigint) => Number(x & 0xffff_ffffn);
    const hi = (x: bigint) => Number((x >> 32n) & 0xffff_ffffn);
    this.defineLong(addr, lo(val), lo(wmask), lo(w1c), lo(wo));
    this.defineLong(addr + 4, hi(val), hi(wmask), hi(w1c), hi(wo));
  }

  /** vtd_set_long: a guest write through the masks. */
  setLong(addr: number, val: number): void {
    const i = addr >>> 2;
    const old = this.csr[i]!;
    const w = this.wmask[i]!;
    this.csr[i] = ((old & ~w) | (val & w)) & ~(this.w1cmask[i]! & val);
  }

  /** vtd_get_long: a guest read (write-only bits read as 0). */
  getLong(addr: number): number {
    const i = addr >>> 2;
    return (this.csr[i]! & ~this.womask[i]!) >>> 0;
  }

  /** The stored value, for the device itself. */
  raw(addr: number): number {
    return this.csr[addr >>> 2]!;
  }

  setRaw(addr: number, val: number): void {
    this.csr[addr >>> 2] = val;
  }

  /** vtd_set_clear_mask_long: internal update. */
  setClear(addr: number, clear: number, set: number): number {
    const i = addr >>> 2;
    this.csr[i] = (this.csr[i]! & ~clear) | set;
    return this.csr[i]! >>> 0;
  }

  /** Stores a 64-bit value as its two longs (for the device: FRCD, VCRSP). */
  setRawQuad(addr: number, v: bigint): void {
    this.setRaw(addr, Number(v & 0xffff_ffffn));
    this.setRaw(addr + 4, Number((v >> 32n) & 0xffff_ffffn));
  }

  /** The stored 64-bit value of a quad (for the device: RTADDR, IQA, IVA, CCMD, IOTLB). */
  rawQuad(addr: number): bigint {
    return (BigInt(this.raw(addr + 4) >>> 0) << 32n) | BigInt(this.raw(addr) >>> 0);
  }
}
