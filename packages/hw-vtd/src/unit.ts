// The intel-vtd model for host specs: hardware unit + intel-iommu driver behind an IommuUnit.
import type { IommuDriverFactory, IommuUnit } from '@iommu-lab/iommu-core';
import type { Host } from '@iommu-lab/platform';
import { DmarFaultHandler } from './driver/fault-handler.js';
import { IntelIommu } from './driver/intel-iommu.js';
import { IntelIommuOps } from './driver/ops.js';
import { VtdHardware } from './hw/vtd-hw.js';
import { parseVtdOptions, vtdCapabilities } from './options.js';

/** An intel-vtd unit: the IommuUnit fields plus the hardware and driver objects behind them. */
export interface VtdUnit extends IommuUnit {
  readonly hw: VtdHardware;
  readonly ops: IntelIommuOps;
  readonly iommu: IntelIommu;
  readonly faults: DmarFaultHandler;
}

export function createVtdUnit(host: Host, id: string, options: Readonly<Record<string, unknown>> = {}): VtdUnit {
  const o = parseVtdOptions(options);
  if (host.mem.size > 2 ** o.haw) throw new RangeError(`intel-vtd option "haw": ${o.haw} bits cannot address ${host.mem.size} bytes of RAM`);
  const { cap, ecap } = vtdCapabilities(o);
  const hw = new VtdHardware(host.mem, { cap, ecap, version: o.version, haw: o.haw }, host.trace);
  hw.detector.enabled = o.detector;
  const iommu = new IntelIommu(id, hw, host.mem, host.frames);
  const faults = new DmarFaultHandler(iommu);
  hw.onFaultEvent = () => faults.handle();
  hw.onPageRequestEvent = () => iommu.prq?.eventThread();
  iommu.init();
  const ops = new IntelIommuOps(iommu, faults);
  return {
    id,
    model: 'intel-vtd',
    ops,
    hw,
    iommu,
    faults,
    describe: () => ({
      model: 'intel-vtd',
      mode: 'scalable',
      VER: `0x${hw.read32(0).toString(16)}`,
      CAP: `0x${cap.toString(16)}`,
      ECAP: `0x${ecap.toString(16)}`,
      stages: [o.firstStage ? 'first' : '', o.secondStage ? 'second' : '', o.nesting ? 'nested' : ''].filter(Boolean).join(', '),
      'address width': `${o.addressWidth}-bit`,
      PASID: o.pasid ? `${o.pasidBits} bits` : 'no',
      'caching mode': o.cachingMode ? 'on' : 'off',
      'page requests': o.prs ? 'yes' : 'no',
    }),
  };
}

/** The intel-vtd driver factory: register it with iommu-core's registerIommuDriver. */
export const intelVtdDriver: IommuDriverFactory = {
  model: 'intel-vtd',
  description: 'Intel VT-d scalable mode: first/second-stage and nested translation, queued invalidation (intel-iommu)',
  create: createVtdUnit,
};
