// The guest's /sys/kernel/debug/iommu/intel files for one device (Linux intel/debugfs.c): its line of
// dmar_translation_struct (root, context and PASID entry) and its domain_translation_struct (the page table).
import { DMA_GSTS_TES, DMA_RTADDR_SMT, DMAR_GSTS_REG, DMAR_RTADDR_REG } from '@iommu-lab/hw-vtd/format';
import type { GuestRam } from '../vm/guest-ram.js';
import type { VmDevice } from '../vm/vm.js';
import type { Guest } from './kernel.js';

const hex16 = (lo: number, hi: number) => `0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;
const SPAN = [1, 1, 512, 262144, 134217728, 68719476736];

function read64(ram: GuestRam, gpa: number, w: Uint32Array): [number, number] {
  ram.read64(gpa, w);
  return [w[0]!, w[1]!];
}

/** pgtable_walk_level: a row per leaf with the entries of every level on its path (first or second stage). */
function walk(ram: GuestRam, tableGpa: number, level: number, start: number, ss: boolean, path: [number, number][], out: string[]): void {
  const w = new Uint32Array(2);
  for (let i = 0; i < 512; i++) {
    const [lo, hi] = read64(ram, tableGpa + i * 8, w);
    if ((lo & (ss ? 3 : 1)) === 0) continue;
    const iova = start + i * SPAN[level]!;
    path[level] = [lo, hi];
    if (level === 1 || (lo & 0x80) !== 0) {
      let row = `0x${iova.toString(16).padStart(13, '0')} |\t${hex16(...path[5]!)}\t${hex16(...path[4]!)}\t${hex16(...path[3]!)}`;
      if (path[2]![0] || path[2]![1]) {
        row += `\t${hex16(...path[2]!)}`;
        if (path[1]![0] || path[1]![1]) row += `\t${hex16(...path[1]!)}`;
      }
      out.push(row);
    } else {
      walk(ram, (hi & 0xfffff) * 2 ** 32 + (lo >>> 12) * 4096, level - 1, iova, ss, path, out);
    }
    path[level] = [0, 0];
  }
}

/**
 * What the guest's debugfs shows for a device's PASID (0 = RID_PASID): the root/context/PASID entries as
 * dmar_translation_struct prints them, then domain_translation_struct. Reads GSTS and RTADDR (two exits).
 */
export function dumpDeviceTranslation(g: Guest, dev: VmDevice, pasid = 0): string {
  const iommu = g.iommu;
  if (!iommu) return 'DMA Remapping is not enabled (no IOMMU)\n';
  const ram = g.vm.ram;
  if ((iommu.regs.readl(DMAR_GSTS_REG) & DMA_GSTS_TES) === 0) return 'DMA Remapping is not enabled on dmar0\n';
  const rtaddr = iommu.regs.readq(DMAR_RTADDR_REG);
  const scalable = (rtaddr & DMA_RTADDR_SMT) !== 0n;
  const root = Number(rtaddr & ~0xfffn);
  const sid = dev.vfio.guestRid;
  const bus = sid >>> 8;
  const devfn = sid & 0xff;
  const w = new Uint32Array(2);
  const reLo = read64(ram, root + bus * 16, w);
  const reHi = read64(ram, root + bus * 16 + 8, w);
  const half = devfn > 0x7f ? reHi : reLo;
  const out: string[] = [];
  const name = `${bus.toString(16).padStart(2, '0')}:${(devfn >>> 3).toString(16).padStart(2, '0')}.${devfn & 7}`;
  if (!scalable || (half[0] & 1) === 0) return `${name}: no context\n`;
  const ctx = (half[1] >>> 0) * 2 ** 32 + (half[0] >>> 0) - (half[0] & 0xfff);
  const ceLo = read64(ram, ctx + (devfn & 0x7f) * 32, w);
  const ceHi = read64(ram, ctx + (devfn & 0x7f) * 32 + 8, w);
  out.push(`IOMMU dmar0: Root Table Address: 0x${root.toString(16)}`, 'B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry');
  if ((ceLo[0] & 1) === 0) return `${out.join('\n')}\n`;
  const dir = (ceLo[1] >>> 0) * 2 ** 32 + ((ceLo[0] >>> 0) - (ceLo[0] & 0xfff));
  const pde = read64(ram, dir + (pasid >>> 6) * 8, w);
  const row = `${name}\t${hex16(...reHi)}:${hex16(...reLo)}\t${hex16(...ceHi)}:${hex16(...ceLo)}\t`;
  if ((pde[0] & 1) === 0) {
    out.push(`${row}${'-1'.padEnd(6)}\t0x${'0'.repeat(16)}:0x${'0'.repeat(16)}:0x${'0'.repeat(16)}`);
    return `${out.join('\n')}\n`;
  }
  const pte = (pde[1] >>> 0) * 2 ** 32 + ((pde[0] >>> 0) - (pde[0] & 0xfff)) + (pasid & 63) * 64;
  const val = [0, 1, 2].map((i) => read64(ram, pte + i * 8, w));
  if ((val[0]![0] & 1) === 0) return `${out.join('\n')}\n`;
  out.push(`${row}${String(pasid).padEnd(6)}\t${hex16(...val[2]!)}:${hex16(...val[1]!)}:${hex16(...val[0]!)}`, '');
  const pgtt = (val[0]![0] >>> 6) & 7;
  const agaw = (val[0]![0] >>> 2) & 7;
  const first = pgtt === 1;
  if (pgtt !== 1 && pgtt !== 2 && pgtt !== 3) return `${out.join('\n')}\n`;
  const src = first ? val[2]! : val[0]!;
  const pgd = (src[1] >>> 0) * 2 ** 32 + ((src[0] >>> 0) - (src[0] & 0xfff));
  out.push(
    `Device 0000:${name} with pasid ${pasid.toString(16)} @0x${pgd.toString(16)}`,
    `${'IOVA_PFN'.padEnd(17)}\t${'PML5E'.padEnd(18)}\t${'PML4E'.padEnd(18)}\t${'PDPE'.padEnd(18)}\t${'PDE'.padEnd(18)}\tPTE`,
  );
  const levels = first ? 4 + ((val[2]![0] >>> 2) & 3) : agaw + 2;
  // The kernel walks from agaw + 2 levels for both stages (a 4-level first stage has AW = 2).
  walk(ram, pgd, first ? levels : agaw + 2, 0, !first, Array.from({ length: 6 }, () => [0, 0] as [number, number]), out);
  return `${out.join('\n')}\n`;
}
