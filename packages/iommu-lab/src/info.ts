// `iommu-lab info`: the topology of a host, as text or JSON.
import { iommuSubsystem } from '@iommu-lab/iommu-core';
import { formatSize } from '@iommu-lab/platform';
import type { LabHost } from './create-host.js';

export interface HostInfo {
  memory: { bytes: number; text: string };
  iommus: { id: string; model: string; devices: string[]; facts: Record<string, string> }[];
  devices: { bdf: string; rid: string; iommu: string | null; group: number | null; pasidBits: number; ats: boolean; pri: boolean; vfio: string | null }[];
}

export function hostInfo(host: LabHost): HostInfo {
  const sub = iommuSubsystem(host);
  return {
    memory: { bytes: host.mem.size, text: formatSize(host.mem.size) },
    iommus: sub.units.map((u) => ({
      id: u.id,
      model: u.model,
      devices: sub.devices.filter((d) => d.unit === u).map((d) => d.name),
      facts: u.describe(),
    })),
    devices: host.devices.map((d) => {
      const idev = sub.findDevice(d.bdf);
      return {
        bdf: d.bdf,
        rid: `0x${d.rid.toString(16).padStart(4, '0')}`,
        iommu: d.iommu ?? null,
        group: idev ? idev.group.id : null,
        pasidBits: d.pasidBits,
        ats: d.ats,
        pri: d.pri,
        vfio: d.cdevPath ?? null,
      };
    }),
  };
}

export function formatHostInfo(info: HostInfo): string {
  const lines: string[] = [];
  lines.push(`memory   ${info.memory.text}`);
  lines.push('iommus');
  if (info.iommus.length === 0) lines.push('  (none)');
  for (const u of info.iommus) {
    lines.push(`  ${u.id.padEnd(8)} ${u.model.padEnd(12)} devices: ${u.devices.join(', ') || 'none'}`);
    for (const [k, v] of Object.entries(u.facts)) lines.push(`  ${''.padEnd(8)} ${k}: ${v}`);
  }
  lines.push('devices');
  if (info.devices.length === 0) lines.push('  (none)');
  for (const d of info.devices) {
    const caps = [d.pasidBits ? `pasid ${d.pasidBits} bits` : 'no pasid', d.ats ? 'ats' : '', d.pri ? 'pri' : ''].filter(Boolean).join(', ');
    lines.push(
      `  ${d.bdf}  rid ${d.rid}  iommu ${d.iommu ?? '(none)'}  group ${d.group ?? '-'}  ${caps}  vfio ${d.vfio ?? '(not registered)'}`,
    );
  }
  return lines.join('\n');
}
