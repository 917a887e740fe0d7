// Read-only guest memory the machine has besides RAM (q35's pc.bios below 4 GiB), backed by VMM memory.
import type { Process } from '@iommu-lab/platform';

export interface RomRegion {
  readonly name: string;
  readonly gpa: number;
  readonly size: number;
  /** The VMM's (read-only) mapping of it. */
  readonly hva: bigint;
}

/** pc.bios: the 256 KiB firmware image at the top of the 32-bit space (q35); virt has none here. */
export function machineRoms(machine: string, vmm: Process): RomRegion[] {
  if (machine !== 'q35') return [];
  const size = 256 * 1024;
  return [{ name: 'pc.bios', gpa: 0x1_0000_0000 - size, size, hva: vmm.mmap(size, { prot: 'r', name: 'pc.bios' }) }];
}
