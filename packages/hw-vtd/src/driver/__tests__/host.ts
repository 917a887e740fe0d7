// Test host: RAM, PCI devices behind dmar0 (an intel-vtd unit), brought up by iommu-core.
import { iommuDeviceClaimDmaOwner, type IommuDevice, iommuSubsystem, type IommuUserData } from '@iommu-lab/iommu-core';
import { Host, type Process, type StructCodec } from '@iommu-lab/platform';
import { createVtdUnit, type VtdUnit } from '../../unit.js';

export const DEV_A = '0000:01:00.0';
export const DEV_ATS = '0000:02:00.0';
export const DEV_NOPASID = '0000:03:00.0';

export function vtdHost(options: Record<string, unknown> = {}) {
  const host = new Host({
    memory: 512 * 2 ** 20,
    devices: [
      { bdf: DEV_A, iommu: 'dmar0', pasidBits: 20 },
      { bdf: DEV_ATS, iommu: 'dmar0', pasidBits: 8, ats: true },
      { bdf: DEV_NOPASID, iommu: 'dmar0' },
    ],
  });
  const unit: VtdUnit = createVtdUnit(host, 'dmar0', options);
  const sub = iommuSubsystem(host);
  sub.bringUp(unit);
  const proc = host.spawnProcess();
  const dev = (bdf: string): IommuDevice => {
    const d = sub.device(bdf);
    if (d.group.ownerCount === 0) iommuDeviceClaimDmaOwner(d, 'test');
    return d;
  };
  return { host, unit, sub, proc, dev };
}

export type VtdHost = ReturnType<typeof vtdHost>;

/** Vendor data in the process's memory, as iommufd passes it down. */
export function userData<T extends object>(proc: Process, codec: StructCodec<T>, value: Partial<T>, type: number, len = codec.size): IommuUserData {
  const bytes = new Uint8Array(Math.max(len, codec.size));
  codec.encode(value, bytes);
  const uptr = proc.mmap(4096);
  proc.memWrite(uptr, bytes.subarray(0, len));
  return { type, uptr, len, proc };
}

/** Host frames standing in for a VM's RAM: contiguous, so GPA g is host page base + g. */
export function guestRam(h: VtdHost, pages = 4096): number {
  return h.host.frames.alloc(Math.log2(pages));
}
