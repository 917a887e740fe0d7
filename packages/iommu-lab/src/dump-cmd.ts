// `iommu-lab dump <QEMU options>`: the guest's and the host's tables for a device, both stages, debugfs style.
import { dumpStream, SmmuV3 } from '@iommu-lab/hw-smmuv3';
import { deviceTranslationStruct, type VtdUnit } from '@iommu-lab/hw-vtd';
import { bootGuest, type Guest, Vm } from '@iommu-lab/viommu';
import { Command } from 'commander';
import { createHost, type LabHost } from './create-host.js';

/** The host IOMMU's view of a host device at a PASID, from its own tables. */
export function hostDump(host: LabHost, bdf: string, pasid = 0, maxRows = Infinity): string {
  const dev = host.iommu.findDevice(bdf);
  if (!dev) return `${bdf}: not behind an IOMMU`;
  const hw = dev.unit.hw as unknown;
  if (hw instanceof SmmuV3) return dumpStream(hw, host.mem, dev.rid, pasid, { maxLines: maxRows });
  return deviceTranslationStruct(dev.unit as VtdUnit, dev, pasid, maxRows);
}

/** Keeps the first `max` rows of each table (a stage 2 over all guest RAM has a row per page). */
export function truncateTables(text: string, max: number): string {
  const out: string[] = [];
  let rows = 0;
  let dropped = 0;
  const flush = () => {
    if (dropped) out.push(`... ${dropped} more rows`);
    dropped = 0;
  };
  for (const line of text.split('\n')) {
    const isRow = /^0x[0-9a-f]+ \|/.test(line);
    if (!isRow) {
      flush();
      rows = 0;
      out.push(line);
    } else if (rows++ < max) {
      out.push(line);
    } else {
      dropped++;
    }
  }
  flush();
  return out.join('\n');
}

/** Boots the VM and its guest, maps `buffers` guest buffers for the device, and prints both views. */
export function dumpVm(host: LabHost, qemu: readonly string[], opts: { device?: string; buffers: number; size: number; maxRows?: number }): string {
  const vm = new Vm(host, qemu);
  try {
    const g: Guest = bootGuest(vm, { flush: 'strict' });
    const dev = g.device(opts.device);
    const dma = g.dma(opts.device);
    for (let i = 0; i < opts.buffers; i++) dma.map(g.alloc(opts.size), opts.size, 'bidirectional');
    const text = [
      `# guest: ${vm.viommu?.name ?? 'no vIOMMU'}, device ${dev.vfio.id} (guest RID 0x${dev.vfio.guestRid.toString(16).padStart(4, '0')})`,
      g.dump(opts.device),
      `# host: ${dev.vfio.host.bdf} behind ${host.iommu.findDevice(dev.vfio.host.bdf)?.unit.id ?? '(none)'}`,
      hostDump(host, dev.vfio.host.bdf, 0, opts.maxRows),
    ].join('\n');
    return opts.maxRows === undefined ? text : truncateTables(text, opts.maxRows);
  } finally {
    vm.shutdown();
  }
}

export function dumpCommand(loadSpec: (file?: string) => unknown, print: (s: string) => void): Command {
  return new Command('dump')
    .description("boot a VM, map guest buffers for a device, and print the guest's and the host's translation tables")
    .argument('<qemu...>', 'QEMU options, as for run')
    .option('--device <id>', 'the vfio-pci device (id=, or vfio0, vfio1, ...)')
    .option('--buffers <n>', 'guest buffers to map first', (v) => Number(v), 2)
    .option('--size <bytes>', 'size of each buffer', (v) => Number(v), 8192)
    .option('--max-rows <n>', 'rows shown per table (0: all)', (v) => Number(v), 32)
    .option('--spec <file>', 'host spec JSON file (the built-in default machine without one)')
    .allowUnknownOption()
    .action((qemu: string[], opts: { device?: string; buffers: number; size: number; maxRows: number; spec?: string }) => {
      if (opts.maxRows === 0) opts.maxRows = Infinity;
      print(dumpVm(createHost(loadSpec(opts.spec)), qemu, opts));
    });
}
