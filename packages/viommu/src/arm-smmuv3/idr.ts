// smmuv3_init_id_regs + smmuv3_accel_idr_override: the ID registers the guest reads, from QEMU's defaults and
// the properties. IHI0070 6.3.1-6.3.8 for the fields.
import { Idr0, Idr1, Idr3, Idr5, IDR0_TTF_AARCH64, IDR0_TTENDIAN_LE, IDR0_STALL_MODEL_TERMINATE, IDR0_ST_LEVEL_2LVL, addrSizeEncoding } from '@iommu-lab/hw-smmuv3/format';
import type { SmmuV3Config } from './config.js';

/** SMMU_IDR1_SIDSIZE, SMMU_CMDQS, SMMU_EVENTQS. */
export const SMMU_IDR1_SIDSIZE = 16;
export const SMMU_CMDQS = 19;
export const SMMU_EVENTQS = 19;
/** The PRI queue's largest log2size (pri=on), as large as the other queues. */
export const SMMU_PRIQS = 19;

export interface SmmuV3IdRegs {
  /** IDR0..IDR5. */
  readonly idr: Uint32Array;
  iidr: number;
  aidr: number;
}

/**
 * The ID registers of the emulated unit. Additions to QEMU's set: IDR0.MSI, so that CMD_SYNC can complete with
 * an MSI write into guest RAM (the guest then polls memory, as Linux does on coherent SMMUs with MSIs); with
 * pri=on, IDR0.PRI and IDR1.PRIQS.
 */
export function smmuV3IdRegs(c: SmmuV3Config): SmmuV3IdRegs {
  const idr = new Uint32Array(6);
  idr[0] = Idr0.encode({
    s1p: 1,
    ttf: IDR0_TTF_AARCH64,
    cohacc: 1,
    asid16: 1,
    msi: 1,
    ttendian: IDR0_TTENDIAN_LE,
    stallModel: IDR0_STALL_MODEL_TERMINATE,
    termModel: 1,
    stLevel: IDR0_ST_LEVEL_2LVL,
    ats: c.ats ? 1 : 0,
    pri: c.pri ? 1 : 0,
  });
  idr[1] = Idr1.encode({ sidsize: SMMU_IDR1_SIDSIZE, ssidsize: c.ssidsize, priqs: c.pri ? SMMU_PRIQS : 0, eventqs: SMMU_EVENTQS, cmdqs: SMMU_CMDQS });
  idr[3] = Idr3.encode({ had: 1, ril: c.ril ? 1 : 0, bbml: 2 });
  idr[5] = Idr5.encode({ oas: addrSizeEncoding(c.oas), gran4k: 1, gran16k: 1, gran64k: 1 });
  return { idr, iidr: 0, aidr: 0x1 };
}

/**
 * With accel the granules the guest sees follow the host's: QEMU requires them equal to its own set
 * (4K/16K/64K) and refuses a host that differs; this model offers the host's set instead.
 */
export function smmuV3AdoptHostGranules(regs: SmmuV3IdRegs, hostIdr5: number): void {
  const h = Idr5.decode(hostIdr5);
  const v = Idr5.decode(regs.idr[5]!);
  regs.idr[5] = Idr5.encode({ ...v, gran4k: h.gran4k, gran16k: h.gran16k, gran64k: h.gran64k });
}
