// The emulated SMMUv3's register window on the virt platform bus and the names its exits are counted under.
import { SMMU_REG } from '@iommu-lab/hw-smmuv3/format';

/** VIRT_PLATFORM_BUS: a -device arm-smmuv3 is the first (and here only) device on the virt platform bus. */
export const VIRT_SMMU_BASE = 0x0c00_0000;
/** GBPA after reset: SHCFG = use incoming, ABORT clear (traffic bypasses while SMMUEN is 0). */
export const SMMU_GBPA_RESET_VAL = 0x1000;
/** CR0 bits that are RES0 (not acknowledged in CR0ACK). */
export const SMMU_CR0_RESERVED = 0xffff_fc20;

const NAMES = new Map<number, string>();
for (const [name, off] of Object.entries(SMMU_REG)) NAMES.set(off % 0x10000, name);

/** A register's name for exit accounting; page 1 aliases page 0 (QEMU's choice for the CONSTRAINED UNPREDICTABLE case). */
export function smmuRegName(offset: number): string | undefined {
  const off = offset % 0x10000;
  return NAMES.get(off) ?? NAMES.get(off - 4)?.concat('_HI');
}

/** The names of the wired interrupt lines (their device-tree interrupt-names). */
export const SMMU_IRQ = {
  EVTQ: 'arm-smmuv3:eventq',
  PRIQ: 'arm-smmuv3:priq',
  CMD_SYNC: 'arm-smmuv3:cmdq-sync',
  GERROR: 'arm-smmuv3:gerror',
} as const;
