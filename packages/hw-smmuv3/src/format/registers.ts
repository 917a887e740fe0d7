// The SMMU register map (IHI0070 6.2-6.3): offsets and the control/error registers' fields.
import { defineReg32 } from './bitfield.js';

/** Register offsets in page 0; page 1 (0x10000 up) holds EVENTQ_PROD/CONS and PRIQ_PROD/CONS too. */
export const SMMU_REG = {
  IDR0: 0x00,
  IDR1: 0x04,
  IDR2: 0x08,
  IDR3: 0x0c,
  IDR4: 0x10,
  IDR5: 0x14,
  IIDR: 0x18,
  AIDR: 0x1c,
  CR0: 0x20,
  CR0ACK: 0x24,
  CR1: 0x28,
  CR2: 0x2c,
  STATUSR: 0x40,
  GBPA: 0x44,
  AGBPA: 0x48,
  IRQ_CTRL: 0x50,
  IRQ_CTRLACK: 0x54,
  GERROR: 0x60,
  GERRORN: 0x64,
  GERROR_IRQ_CFG0: 0x68,
  GERROR_IRQ_CFG1: 0x70,
  GERROR_IRQ_CFG2: 0x74,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  EVENTQ_PROD: 0x100a8,
  EVENTQ_CONS: 0x100ac,
  EVENTQ_IRQ_CFG0: 0xb0,
  EVENTQ_IRQ_CFG1: 0xb8,
  EVENTQ_IRQ_CFG2: 0xbc,
  PRIQ_BASE: 0xc0,
  PRIQ_PROD: 0x100c8,
  PRIQ_CONS: 0x100cc,
  PRIQ_IRQ_CFG0: 0xd0,
  PRIQ_IRQ_CFG1: 0xd8,
  PRIQ_IRQ_CFG2: 0xdc,
} as const;

/** The register space: two 64 KiB pages. */
export const SMMU_REG_SPACE = 0x20000;

// IHI0070 6.3.9 SMMU_CR0 (and 6.3.10 SMMU_CR0ACK, same layout)
export const Cr0 = defineReg32('SMMU_CR0', { smmuen: [0, 0], priqen: [1, 1], evtqen: [2, 2], cmdqen: [3, 3], atschk: [4, 4], vmw: [8, 6] });
export const CR0_SMMUEN = 1 << 0;
export const CR0_PRIQEN = 1 << 1;
export const CR0_EVTQEN = 1 << 2;
export const CR0_CMDQEN = 1 << 3;
export const CR0_ATSCHK = 1 << 4;

// IHI0070 6.3.11 SMMU_CR1: cacheability and shareability of table and queue accesses
export const Cr1 = defineReg32('SMMU_CR1', {
  queueIc: [1, 0],
  queueOc: [3, 2],
  queueSh: [5, 4],
  tableIc: [7, 6],
  tableOc: [9, 8],
  tableSh: [11, 10],
});

// IHI0070 6.3.12 SMMU_CR2
export const Cr2 = defineReg32('SMMU_CR2', { e2h: [0, 0], recinvsid: [1, 1], ptm: [2, 2] });

// IHI0070 6.3.14 SMMU_GBPA: what happens to traffic while SMMUEN == 0
export const Gbpa = defineReg32('SMMU_GBPA', {
  memattr: [3, 0],
  mtcfg: [4, 4],
  alloccfg: [11, 8],
  shcfg: [13, 12],
  privcfg: [17, 16],
  instcfg: [19, 18],
  abort: [20, 20],
  update: [31, 31],
});
export const GBPA_ABORT = 1 << 20;
export const GBPA_UPDATE = 0x80000000;

// IHI0070 6.3.16 SMMU_IRQ_CTRL
export const IRQ_CTRL_GERROR_IRQEN = 1 << 0;
export const IRQ_CTRL_PRIQ_IRQEN = 1 << 1;
export const IRQ_CTRL_EVTQ_IRQEN = 1 << 2;

// IHI0070 6.3.18 SMMU_GERROR (an error is active while GERROR and GERRORN differ in its bit)
export const Gerror = defineReg32('SMMU_GERROR', {
  cmdqErr: [0, 0],
  eventqAbtErr: [2, 2],
  priqAbtErr: [3, 3],
  msiCmdqAbtErr: [4, 4],
  msiEventqAbtErr: [5, 5],
  msiPriqAbtErr: [6, 6],
  msiGerrorAbtErr: [7, 7],
  sfmErr: [8, 8],
});
export const GERROR_CMDQ_ERR = 1 << 0;
export const GERROR_EVTQ_ABT_ERR = 1 << 2;
export const GERROR_PRIQ_ABT_ERR = 1 << 3;
export const GERROR_MSI_CMDQ_ABT_ERR = 1 << 4;
export const GERROR_SFM_ERR = 1 << 8;
export const GERROR_ERR_MASK = 0x1fd;
