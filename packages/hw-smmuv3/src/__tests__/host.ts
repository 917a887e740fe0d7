// A host with an arm-smmuv3 unit and PCI devices behind it, brought up through iommu-core, and a vIOMMU core double.
import { type IommuDevice, iommuSubsystem, type IommuUserData, type ViommuCore } from '@iommu-lab/iommu-core';
import { ErrnoError, Host, type PciDeviceConfig, type Process } from '@iommu-lab/platform';
import { type ArmSmmuV3Unit, createArmSmmuV3 } from '../unit.js';

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

export const DEV_A = '0000:00:01.0';
export const DEV_B = '0000:00:02.0';

export function smmuHost(options: Record<string, unknown> = {}, devices?: PciDeviceConfig[], memory = 512 * MiB) {
  const host = new Host({
    memory,
    devices: devices ?? [
      { bdf: DEV_A, iommu: 'smmu0', pasidBits: 20, ats: true },
      { bdf: DEV_B, iommu: 'smmu0' },
    ],
  });
  const unit: ArmSmmuV3Unit = createArmSmmuV3(host, 'smmu0', options);
  const sub = iommuSubsystem(host);
  const devs = sub.bringUp(unit);
  const proc = host.spawnProcess();
  return { host, unit, sub, devs, drv: unit.ops, hw: unit.hw, proc, dev: (bdf: string) => sub.device(bdf) };
}

/** Vendor data in a process's memory, as iommufd passes it to the driver. */
export function userData(proc: Process, type: number, bytes: Uint8Array): IommuUserData {
  const uptr = proc.mmap(4096);
  proc.memWrite(uptr, bytes);
  return { type, uptr, len: bytes.length, proc };
}

/** What iommufd gives a vIOMMU: vDEVICEs (virtual ID -> device) and a vEVENTQ. */
export class FakeViommuCore implements ViommuCore {
  readonly vdevs = new Map<bigint, IommuDevice>();
  readonly events: { type: number; data: Uint8Array }[] = [];
  /** Without a vEVENTQ, reportEvent fails with EOPNOTSUPP. */
  veventq = true;

  reportEvent(type: number, data: Uint8Array): void {
    if (!this.veventq) throw new ErrnoError('EOPNOTSUPP', 'iommufd', 'no vEVENTQ');
    this.events.push({ type, data: data.slice() });
  }

  findDevice(virtId: bigint): IommuDevice | null {
    return this.vdevs.get(virtId) ?? null;
  }

  virtIdOf(dev: IommuDevice): bigint | null {
    for (const [id, d] of this.vdevs) if (d === dev) return id;
    return null;
  }

  allocMmap(): bigint {
    throw new ErrnoError('EOPNOTSUPP', 'iommufd', 'no mmap');
  }

  destroyMmap(): void {}
}
