// createHost(spec): the platform, the IOMMU units from the registry, the devices behind them, the kernel.
import { iommuDriver, type IommuSubsystem, iommuSubsystem } from '@iommu-lab/iommu-core';
import { installIommufd } from '@iommu-lab/iommufd';
import { Host, parseSize } from '@iommu-lab/platform';
import { installSelftest } from '@iommu-lab/selftest';
import { installVfio, type VfioSubsystem } from '@iommu-lab/vfio';
import { registerBuiltinDrivers } from './drivers.js';
import { DEFAULT_MACHINE, type HostSpec, HostSpecError, parseHostSpec } from './spec.js';

/** A host built from a spec: the platform, its IOMMU subsystem, /dev/iommu and the VFIO devices. */
export type LabHost = Host & { readonly spec: HostSpec; readonly iommu: IommuSubsystem; readonly vfio: VfioSubsystem };

function specError(where: string, e: unknown): never {
  if (e instanceof RangeError || e instanceof HostSpecError) throw new HostSpecError(`${where}: ${e.message}`);
  throw e;
}

/**
 * Creates a host from a spec object or JSON text (the built-in default machine when omitted).
 * Bad specs throw HostSpecError naming the field.
 */
export function createHost(input: unknown = DEFAULT_MACHINE): LabHost {
  registerBuiltinDrivers();
  const spec = parseHostSpec(input);
  const host = new Host({
    memory: parseSize(spec.memory),
    devices: spec.devices.map((d) => ({ bdf: d.bdf, iommu: d.iommu, pasidBits: d.pasidBits, ats: d.ats, pri: d.pri })),
  });
  const sub = iommuSubsystem(host);
  spec.iommus.forEach((u, i) => {
    const { id, model, ...options } = u;
    let factory;
    try {
      factory = iommuDriver(model);
    } catch (e) {
      specError(`iommus[${i}].model`, e);
    }
    try {
      sub.addUnit(factory.create(host, id, options));
    } catch (e) {
      specError(`iommus[${i}]`, e);
    }
  });
  const probe = (i: number): void => {
    const d = spec.devices[i]!;
    const pci = host.device(d.bdf);
    if (!d.iommu || sub.findDevice(pci.bdf)) return;
    const unit = sub.unit(d.iommu);
    let groupWith;
    if (d.group) {
      const j = spec.devices.findIndex((x) => x.bdf.toLowerCase() === d.group!.toLowerCase());
      probe(j);
      groupWith = sub.device(host.device(d.group).bdf);
    }
    sub.probeDevice(pci.bdf, unit, { rid: pci.rid, pci, groupWith });
    pci.translator = unit.hw;
  };
  spec.devices.forEach((_, i) => probe(i));
  installIommufd(host);
  if (spec.kernel.iommufdTest) installSelftest(host);
  const vfio = installVfio(host);
  return Object.assign(host, { spec, iommu: sub, vfio });
}
