// The "arm-smmuv3" model: hardware + driver + the IommuUnit iommu-core knows, built from a host spec entry.
import type { IommuDriverFactory, IommuUnit } from '@iommu-lab/iommu-core';
import { hex, type Host } from '@iommu-lab/platform';
import { addrSizeBits, Idr0, Idr1, Idr5 } from './format/idr.js';
import { DEFAULT_SMMU_CONFIG, type SmmuHwConfig } from './hw/config.js';
import { SmmuV3 } from './hw/smmu.js';
import { ArmSmmuV3 } from './driver/arm-smmu-v3.js';
import type { SmmuDeviceOptions } from './driver/device.js';

/** Options a host spec may give an "arm-smmuv3" entry: the IDR features, model knobs and firmware flags. */
export type ArmSmmuV3Options = Partial<SmmuHwConfig> & SmmuDeviceOptions;

export interface ArmSmmuV3Unit extends IommuUnit {
  readonly hw: SmmuV3;
  readonly ops: ArmSmmuV3;
}

const DRIVER_OPTIONS: Record<keyof SmmuDeviceOptions, 'boolean'> = { coherent: 'boolean', canwbs: 'boolean', rcAts: 'boolean' };

/** Checks every option's name and type; a bad one is a RangeError naming it. */
export function parseArmSmmuV3Options(options: Readonly<Record<string, unknown>>): { hw: Partial<SmmuHwConfig>; driver: SmmuDeviceOptions } {
  const hw: Record<string, unknown> = {};
  const driver: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    const isHw = Object.hasOwn(DEFAULT_SMMU_CONFIG, k);
    const isDriver = Object.hasOwn(DRIVER_OPTIONS, k);
    if (!isHw && !isDriver) {
      const known = [...Object.keys(DEFAULT_SMMU_CONFIG), ...Object.keys(DRIVER_OPTIONS)].sort().join(', ');
      throw new RangeError(`arm-smmuv3 option ${k}: unknown option (known: ${known})`);
    }
    const want = isHw ? typeof DEFAULT_SMMU_CONFIG[k as keyof SmmuHwConfig] : 'boolean';
    if (typeof v !== want || (want === 'number' && !Number.isInteger(v))) throw new RangeError(`arm-smmuv3 option ${k}: expected ${want === 'number' ? 'an integer' : want}, got ${JSON.stringify(v)}`);
    (isHw ? hw : driver)[k] = v;
  }
  return { hw: hw as Partial<SmmuHwConfig>, driver: driver as SmmuDeviceOptions };
}

/** Builds the hardware in the host's memory and brings the driver up on it (reset, queues, stream table). */
export function createArmSmmuV3(host: Host, id: string, options: Readonly<Record<string, unknown>> = {}): ArmSmmuV3Unit {
  const { hw: hwOpts, driver: drvOpts } = parseArmSmmuV3Options(options);
  const hw = new SmmuV3(host.mem, hwOpts, host.trace);
  const ops = new ArmSmmuV3(hw, host.mem, host.frames, drvOpts);
  return {
    id,
    model: 'arm-smmuv3',
    ops,
    hw,
    describe: () => describeSmmu(hw, ops),
  };
}

function describeSmmu(hw: SmmuV3, ops: ArmSmmuV3): Record<string, string> {
  const i0 = Idr0.decode(hw.idr[0]!);
  const i1 = Idr1.decode(hw.idr[1]!);
  const f = ops.smmu.features;
  return {
    IDR0: hex(hw.idr[0]!, 8),
    IDR1: hex(hw.idr[1]!, 8),
    IDR3: hex(hw.idr[3]!, 8),
    IDR5: hex(hw.idr[5]!, 8),
    IIDR: hex(hw.iidr, 8),
    AIDR: hex(hw.aidr, 2),
    stages: [i0.s1p ? 'S1' : '', i0.s2p ? 'S2' : ''].filter(Boolean).join('+') + (f.nesting ? ' (nesting)' : ''),
    OAS: `${addrSizeBits(Idr5.decode(hw.idr[5]!).oas)} bits`,
    SIDSIZE: String(i1.sidsize),
    SSIDSIZE: String(i1.ssidsize),
    'stream table': f.twoLvlStrtab ? '2-level' : 'linear',
  };
}

/** The factory iommu-core registers; create() returns the typed unit (hardware and driver). */
export const armSmmuV3Driver = {
  model: 'arm-smmuv3',
  description: 'Arm SMMUv3 (IHI0070): stage 1/2/nested translation, CMDQ/EVTQ, vIOMMU nesting (arm-smmu-v3)',
  create: createArmSmmuV3,
} satisfies IommuDriverFactory;
