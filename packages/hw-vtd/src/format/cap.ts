// CAP_REG and ECAP_REG fields (VT-d spec 10.4.2 Capability Register, 10.4.3 Extended Capability Register).
import { defineEntry, flag, num } from './bitfield.js';

/** CAP_REG (10.4.2). SAGAW bit 1 = 39-bit/3-level, bit 2 = 48-bit/4-level, bit 3 = 57-bit/5-level; MGAW holds width - 1. */
export const VtdCap = defineEntry('CAP_REG', 1, {
  nd: num(0, 2, 0),
  afl: flag(0, 3),
  rwbf: flag(0, 4),
  plmr: flag(0, 5),
  phmr: flag(0, 6),
  cm: flag(0, 7),
  sagaw: num(0, 12, 8),
  mgaw: num(0, 21, 16),
  zlr: flag(0, 22),
  fro: num(0, 33, 24),
  sslps: num(0, 37, 34),
  psi: flag(0, 39),
  nfr: num(0, 47, 40),
  mamv: num(0, 53, 48),
  dwd: flag(0, 54),
  drd: flag(0, 55),
  fs1gp: flag(0, 56),
  pi: flag(0, 59),
  fs5lp: flag(0, 60),
  ecmds: flag(0, 61),
  esirtps: flag(0, 62),
  esrtps: flag(0, 63),
});

/** ECAP_REG (10.4.3). PSS holds the PASID width - 1; IRO is the IOTLB register offset / 16. */
export const VtdEcap = defineEntry('ECAP_REG', 1, {
  c: flag(0, 0),
  qi: flag(0, 1),
  dt: flag(0, 2),
  ir: flag(0, 3),
  eim: flag(0, 4),
  pt: flag(0, 6),
  sc: flag(0, 7),
  iro: num(0, 17, 8),
  mhmv: num(0, 23, 20),
  mts: flag(0, 25),
  nest: flag(0, 26),
  prs: flag(0, 29),
  ers: flag(0, 30),
  srs: flag(0, 31),
  nwfs: flag(0, 33),
  eafs: flag(0, 34),
  pss: num(0, 39, 35),
  pasid: flag(0, 40),
  dit: flag(0, 41),
  pds: flag(0, 42),
  smts: flag(0, 43),
  vcs: flag(0, 44),
  ssads: flag(0, 45),
  ssts: flag(0, 46),
  fsts: flag(0, 47),
  smpwcs: flag(0, 48),
  rps: flag(0, 49),
  pms: flag(0, 51),
});

export type VtdCapFields = ReturnType<typeof VtdCap.decode>;
export type VtdEcapFields = ReturnType<typeof VtdEcap.decode>;

/** cap_ndoms: number of domain IDs, 2^(4 + 2 * ND). */
export function capNdoms(cap: bigint): number {
  return 2 ** (4 + 2 * Number(cap & 7n));
}

/** cap_mgaw: the maximum guest address width in bits. */
export function capMgaw(cap: bigint): number {
  return Number((cap >> 16n) & 0x3fn) + 1;
}

/** Second-stage levels for an AW field value (1 = 3-level/39-bit, 2 = 4-level/48-bit, 3 = 5-level/57-bit). */
export function awToLevels(aw: number): number {
  return aw + 2;
}

