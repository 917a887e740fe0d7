// arm_smmu_device_hw_probe and arm_smmu_device_iidr_probe: what the driver makes of the ID registers.
import { addrSizeBits, Idr0, Idr1, Idr3, Idr5, Iidr } from '../format/idr.js';
import { STRTAB_SPLIT } from '../format/strtab.js';

export interface SmmuFeatures {
  twoLvlStrtab: boolean;
  twoLvlCdtab: boolean;
  ttLe: boolean;
  pri: boolean;
  ats: boolean;
  sev: boolean;
  msi: boolean;
  coherency: boolean;
  transS1: boolean;
  transS2: boolean;
  stalls: boolean;
  stallForce: boolean;
  rangeInv: boolean;
  nesting: boolean;
  attrTypesOvr: boolean;
  ha: boolean;
  hd: boolean;
  s2fwb: boolean;
  ds: boolean;
  vax: boolean;
  /** ARM_SMMU_OPT_MSIPOLL and ARM_SMMU_OPT_CMDQ_FORCE_SYNC. */
  msipoll: boolean;
  cmdqForceSync: boolean;
  asidBits: number;
  vmidBits: number;
  ssidBits: number;
  sidBits: number;
  oas: number;
  /** Page sizes in bytes, ascending (pgsize_bitmap). */
  pgsizes: number[];
  cmdqShift: number;
  evtqShift: number;
  priqShift: number;
}

/** Q_MAX_SZ_SHIFT = PAGE_SHIFT + MAX_PAGE_ORDER (10): queues are at most 4 MiB. */
const Q_MAX_SZ_SHIFT = 22;

/** Probes IDR0-5 and IIDR; throws Error (ENXIO in the kernel) for an SMMU the driver cannot use. */
export function probeFeatures(idr: readonly number[], iidr: number, coherent: boolean): SmmuFeatures {
  const i0 = Idr0.decode(idr[0]!);
  const i1 = Idr1.decode(idr[1]!);
  const i3 = Idr3.decode(idr[3]!);
  const i5 = Idr5.decode(idr[5]!);
  if (i0.ttendian !== 0 && i0.ttendian !== 2) throw new Error('arm-smmu-v3: unknown/unsupported TT endianness');
  if (!i0.s1p && !i0.s2p) throw new Error('arm-smmu-v3: no translation support');
  if ((i0.ttf & 2) === 0) throw new Error('arm-smmu-v3: AArch64 table format not supported');
  if (i1.tablesPreset || i1.queuesPreset || i1.rel) throw new Error('arm-smmu-v3: embedded implementation not supported');
  const cmdqShift = Math.min(Q_MAX_SZ_SHIFT - 4, i1.cmdqs);
  if (cmdqShift <= 6) throw new Error('arm-smmu-v3: command queue size <= 64 entries not supported');
  const pgsizes: number[] = [];
  if (i5.gran4k) pgsizes.push(4096, 2 ** 21, 2 ** 30);
  const f: SmmuFeatures = {
    twoLvlStrtab: i0.stLevel === 1 && i1.sidsize > STRTAB_SPLIT,
    twoLvlCdtab: i0.cd2l === 1,
    ttLe: true,
    pri: i0.pri === 1,
    ats: i0.ats === 1,
    sev: i0.sev === 1,
    msi: i0.msi === 1,
    coherency: coherent,
    transS1: i0.s1p === 1,
    transS2: i0.s2p === 1,
    stalls: i0.stallModel === 0 || i0.stallModel === 2,
    stallForce: i0.stallModel === 2,
    rangeInv: i3.ril === 1,
    nesting: i0.s1p === 1 && i0.s2p === 1,
    attrTypesOvr: i1.attrTypesOvr === 1,
    ha: i0.httu >= 1,
    hd: i0.httu >= 2,
    s2fwb: i3.fwb === 1,
    ds: i5.ds === 1,
    vax: i5.vax === 1,
    msipoll: i0.msi === 1 && coherent,
    cmdqForceSync: false,
    asidBits: i0.asid16 ? 16 : 8,
    vmidBits: i0.vmid16 ? 16 : 8,
    ssidBits: i1.ssidsize,
    sidBits: i1.sidsize,
    oas: i5.oas <= 6 ? addrSizeBits(i5.oas) : 48,
    pgsizes: pgsizes.sort((a, b) => a - b),
    cmdqShift,
    evtqShift: Math.min(Q_MAX_SZ_SHIFT - 5, i1.eventqs),
    priqShift: Math.min(Q_MAX_SZ_SHIFT - 4, i1.priqs),
  };
  iidrErrata(f, iidr);
  return f;
}

/** arm_smmu_device_iidr_probe: Arm MMU-600/700 errata that turn features off. */
function iidrErrata(f: SmmuFeatures, iidr: number): void {
  const id = Iidr.decode(iidr);
  if (id.implementer !== 0x43b) return;
  if (id.productId === 0x483) {
    if (id.variant === 0 && id.revision <= 2) f.sev = false; // erratum 1076982
    if (id.variant < 2) f.nesting = false; // erratum 1209401
  } else if (id.productId === 0x487 && (id.variant < 1 || id.revision < 1)) {
    f.cmdqForceSync = true; // erratum 2812531
    f.nesting = false; // errata 2268618, 2812531
  }
}
