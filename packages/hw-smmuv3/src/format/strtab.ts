// Stream table base registers and the level-1 stream table descriptor (IHI0070 6.3.23-6.3.24, 3.3.2).
import { defineDwords, defineReg32 } from './bitfield.js';

// IHI0070 6.3.23 SMMU_STRTAB_BASE: [51:6] ADDR, 62 RA
export const StrtabBase = defineDwords('SMMU_STRTAB_BASE', 1, { addr: [0, 51, 6, 'addr'], ra: [0, 62, 62] });

// IHI0070 6.3.24 SMMU_STRTAB_BASE_CFG
export const StrtabBaseCfg = defineReg32('SMMU_STRTAB_BASE_CFG', { log2size: [5, 0], split: [10, 6], fmt: [17, 16] });
export const STRTAB_FMT_LINEAR = 0;
export const STRTAB_FMT_2LVL = 1;
/** The split Linux uses: each level-2 table holds 256 STEs (one PCI bus). */
export const STRTAB_SPLIT = 8;

// IHI0070 3.3.2 Level-1 Stream Table Descriptor: SPAN 0 = invalid, else the L2 table holds 2^(SPAN-1) STEs
export const L1Std = defineDwords('L1STD', 1, { span: [0, 4, 0], l2ptr: [0, 51, 6, 'addr'] });

export const STE_SIZE = 64;
export const L1STD_SIZE = 8;
