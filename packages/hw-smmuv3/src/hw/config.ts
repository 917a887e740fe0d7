// What one SMMU implementation supports (its ID registers) and the model's own knobs.
import { addrSizeEncoding, Idr0, Idr1, Idr3, Idr5 } from '../format/idr.js';

export interface SmmuHwConfig {
  /** IDR0.S1P / S2P: stage 1 and stage 2 translation. */
  readonly s1p: boolean;
  readonly s2p: boolean;
  /** IDR0.TTF: 2 AArch64 only, 3 AArch32 and AArch64 (the walker implements AArch64 tables). */
  readonly ttf: 2 | 3;
  readonly cohacc: boolean;
  /** IDR0.HTTU: 0 none, 1 Access flag, 2 Access flag and dirty state. */
  readonly httu: 0 | 1 | 2;
  readonly ats: boolean;
  readonly pri: boolean;
  readonly asid16: boolean;
  readonly vmid16: boolean;
  readonly msi: boolean;
  readonly sev: boolean;
  /** IDR0.STALL_MODEL: 0 stall and terminate, 1 terminate only, 2 stall forced. */
  readonly stallModel: 0 | 1 | 2;
  /** IDR0.CD2L: 2-level CD tables. */
  readonly cd2l: boolean;
  /** IDR0.ST_LEVEL: 2-level stream tables. */
  readonly stLevel2: boolean;
  /** IDR1.SIDSIZE and SSIDSIZE in bits. */
  readonly sidSize: number;
  readonly ssidSize: number;
  /** IDR1.CMDQS / EVENTQS / PRIQS: log2 of the largest queue. */
  readonly cmdqs: number;
  readonly eventqs: number;
  readonly priqs: number;
  readonly attrTypesOvr: boolean;
  /** IDR3.RIL (range invalidation) and FWB (stage-2 forced write-back). */
  readonly ril: boolean;
  readonly fwb: boolean;
  /** IDR5.OAS in bits (32, 36, 40, 42, 44, 48 or 52). */
  readonly oas: number;
  readonly gran4k: boolean;
  readonly gran16k: boolean;
  readonly gran64k: boolean;
  readonly iidr: number;
  readonly aidr: number;
  /** Model knobs: the TLB's shape, and whether the TLB and the configuration cache cache at all. */
  readonly tlbSets: number;
  readonly tlbWays: number;
  readonly tlb: boolean;
  readonly configCache: boolean;
  /** Compare every TLB hit with a fresh walk and report differences (a missing invalidation). */
  readonly detectStale: boolean;
}

/** The defaults: an SMMUv3.1 with both stages, 16-bit ASIDs/VMIDs, 2-level tables, OAS 48, 4 KiB granule. */
export const DEFAULT_SMMU_CONFIG: SmmuHwConfig = {
  s1p: true,
  s2p: true,
  ttf: 2,
  cohacc: true,
  httu: 0,
  ats: true,
  pri: true,
  asid16: true,
  vmid16: true,
  msi: true,
  sev: true,
  stallModel: 1,
  cd2l: true,
  stLevel2: true,
  sidSize: 16,
  ssidSize: 20,
  cmdqs: 8,
  eventqs: 7,
  priqs: 7,
  attrTypesOvr: false,
  ril: true,
  fwb: false,
  oas: 48,
  gran4k: true,
  gran16k: false,
  gran64k: false,
  // Arm (JEP106 0x43b) product 0x487 r1p1 (MMU-700 past the errata that make Linux refuse nesting)
  iidr: 0x4871143b,
  aidr: 0x01,
  tlbSets: 1024,
  tlbWays: 4,
  tlb: true,
  configCache: true,
  detectStale: false,
};

const b = (x: boolean) => (x ? 1 : 0);

/** The ID register values of a configuration: IDR0..IDR5, IIDR, AIDR. */
export function smmuIdRegs(c: SmmuHwConfig): { idr: number[]; iidr: number; aidr: number } {
  const idr0 = Idr0.encode({
    s2p: b(c.s2p),
    s1p: b(c.s1p),
    ttf: c.ttf,
    cohacc: b(c.cohacc),
    httu: c.httu,
    ats: b(c.ats),
    asid16: b(c.asid16),
    msi: b(c.msi),
    sev: b(c.sev),
    pri: b(c.pri),
    vmid16: b(c.vmid16),
    cd2l: b(c.cd2l),
    ttendian: 2,
    stallModel: c.stallModel,
    termModel: 1,
    stLevel: b(c.stLevel2),
  });
  const idr1 = Idr1.encode({ sidsize: c.sidSize, ssidsize: c.ssidSize, priqs: c.priqs, eventqs: c.eventqs, cmdqs: c.cmdqs, attrTypesOvr: b(c.attrTypesOvr) });
  const idr3 = Idr3.encode({ ril: b(c.ril), fwb: b(c.fwb) });
  const idr5 = Idr5.encode({ oas: addrSizeEncoding(c.oas), gran4k: b(c.gran4k), gran16k: b(c.gran16k), gran64k: b(c.gran64k) });
  return { idr: [idr0, idr1, 0, idr3, 0, idr5], iidr: c.iidr >>> 0, aidr: c.aidr >>> 0 };
}

/** Throws RangeError naming the field when a configuration is impossible. */
export function checkSmmuConfig(c: SmmuHwConfig): void {
  const need = (ok: boolean, field: string, why: string) => {
    if (!ok) throw new RangeError(`arm-smmuv3 option ${field}: ${why}`);
  };
  need(c.s1p || c.s2p, 's1p', 'an SMMU needs stage 1 or stage 2 (s1p or s2p)');
  need(c.ttf === 2 || c.ttf === 3, 'ttf', 'must be 2 (AArch64) or 3 (both)');
  need([0, 1, 2].includes(c.httu), 'httu', 'must be 0, 1 or 2');
  need([0, 1, 2].includes(c.stallModel), 'stallModel', 'must be 0, 1 or 2');
  need(Number.isInteger(c.sidSize) && c.sidSize >= 0 && c.sidSize <= 32, 'sidSize', 'must be 0..32');
  need(Number.isInteger(c.ssidSize) && c.ssidSize >= 0 && c.ssidSize <= 20, 'ssidSize', 'must be 0..20');
  need(Number.isInteger(c.cmdqs) && c.cmdqs >= 1 && c.cmdqs <= 19, 'cmdqs', 'must be 1..19');
  need(Number.isInteger(c.eventqs) && c.eventqs >= 0 && c.eventqs <= 19, 'eventqs', 'must be 0..19');
  need(Number.isInteger(c.priqs) && c.priqs >= 0 && c.priqs <= 19, 'priqs', 'must be 0..19');
  need(addrSizeEncoding(c.oas) >= 0, 'oas', 'must be 32, 36, 40, 42, 44, 48 or 52');
  need(c.gran4k, 'gran4k', 'the model walks 4 KiB-granule tables, so GRAN4K must be set');
  need(Number.isInteger(c.tlbSets) && c.tlbSets > 0 && (c.tlbSets & (c.tlbSets - 1)) === 0, 'tlbSets', 'must be a power of two');
  need(Number.isInteger(c.tlbWays) && c.tlbWays >= 1 && c.tlbWays <= 64, 'tlbWays', 'must be 1..64');
  need(Number.isInteger(c.iidr) && c.iidr >= 0 && c.iidr <= 0xffffffff, 'iidr', 'must be a u32');
  need(Number.isInteger(c.aidr) && c.aidr >= 0 && c.aidr <= 0xff, 'aidr', 'must be 0..255');
}
