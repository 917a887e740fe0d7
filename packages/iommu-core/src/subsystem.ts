// The IOMMU subsystem of one host: its units, the devices probed behind them and their groups.
import { ErrnoError, type Host, type PciDevice } from '@iommu-lab/platform';
import { IommuDevice } from './device.js';
import { IommuGroup } from './group.js';
import type { IommuUnit } from './unit.js';

const KEY = Symbol('iommu-core');

export interface ProbeOptions {
  rid: number;
  pci?: PciDevice | null;
  /** Join the group of this device instead of getting a new one (devices without ACS isolation). */
  groupWith?: IommuDevice;
  /** Driver data set before probe_device runs (a bus that creates its devices with it). */
  priv?: unknown;
}

export class IommuSubsystem {
  private readonly unitMap = new Map<string, IommuUnit>();
  private readonly deviceMap = new Map<string, IommuDevice>();
  private nextGroupId = 0;

  constructor(readonly host: Host) {}

  get units(): readonly IommuUnit[] {
    return [...this.unitMap.values()];
  }

  get devices(): readonly IommuDevice[] {
    return [...this.deviceMap.values()];
  }

  addUnit(unit: IommuUnit): void {
    if (this.unitMap.has(unit.id)) throw new RangeError(`IOMMU "${unit.id}" is defined twice`);
    this.unitMap.set(unit.id, unit);
  }

  /**
   * Adds a unit and probes every PCI device of the host that names it as its IOMMU: the device
   * joins a group and its DMA goes through the unit's hardware from now on.
   */
  bringUp(unit: IommuUnit): IommuDevice[] {
    this.addUnit(unit);
    const probed: IommuDevice[] = [];
    for (const pci of this.host.devices) {
      if (pci.iommu !== unit.id) continue;
      probed.push(this.probeDevice(pci.bdf, unit, { rid: pci.rid, pci }));
      pci.translator = unit.hw;
    }
    return probed;
  }

  unit(id: string): IommuUnit {
    const u = this.unitMap.get(id);
    if (!u) throw new RangeError(`no IOMMU "${id}" (have: ${[...this.unitMap.keys()].join(', ') || 'none'})`);
    return u;
  }

  device(name: string): IommuDevice {
    const d = this.deviceMap.get(name);
    if (!d) throw new ErrnoError('ENODEV', 'iommu', `no device ${name} behind an IOMMU`);
    return d;
  }

  findDevice(name: string): IommuDevice | undefined {
    return this.deviceMap.get(name);
  }

  /** iommu_probe_device: the driver takes the device, which joins a group in the blocked domain. */
  probeDevice(name: string, unit: IommuUnit, opts: ProbeOptions): IommuDevice {
    if (this.deviceMap.has(name)) throw new RangeError(`device ${name} is probed twice`);
    const dev = new IommuDevice(name, opts.rid, unit, opts.pci ?? null);
    if (opts.priv !== undefined) dev.priv = opts.priv;
    unit.ops.probeDevice(dev);
    let group: IommuGroup;
    if (opts.groupWith) {
      group = opts.groupWith.group;
      if (opts.groupWith.unit !== unit) throw new RangeError(`${name} and ${opts.groupWith.name} are behind different IOMMUs`);
    } else {
      group = new IommuGroup(this.nextGroupId++, unit.ops.blockedDomain);
    }
    group.blockingDomain.attachDev(dev, null);
    group.devices.push(dev);
    dev.setGroup(group);
    this.deviceMap.set(name, dev);
    return dev;
  }

  /** iommu_release_device: the device leaves; it must not be owned by a user any more. */
  releaseDevice(dev: IommuDevice): void {
    const g = dev.group;
    if (g.ownerCount > 0 && g.devices.length === 1) throw new ErrnoError('EBUSY', 'iommu', `${dev.name} is still owned`);
    const i = g.devices.indexOf(dev);
    if (i >= 0) g.devices.splice(i, 1);
    dev.unit.ops.releaseDevice?.(dev);
    this.deviceMap.delete(dev.name);
  }
}

/** The IOMMU subsystem of a host, created on first use. */
export function iommuSubsystem(host: Host): IommuSubsystem {
  let s = host.ext.get(KEY) as IommuSubsystem | undefined;
  if (!s) host.ext.set(KEY, (s = new IommuSubsystem(host)));
  return s;
}
