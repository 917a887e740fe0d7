// What the guest can show of a device behind its SMMUv3, debugfs style: the STE, the CD of the PASID and the
// stage-1 table rows (one per leaf, the descriptor of every level on its path), read from guest RAM.
import { CR0_SMMUEN, SMMU_REG, STE_CONFIG_NAMES } from '@iommu-lab/hw-smmuv3/format';
import type { GuestRam } from '../../vm/guest-ram.js';
import type { ArmSmmuGuest } from './smmu.js';

const hex16 = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;
const LEVEL_SPAN = [2 ** 27, 2 ** 18, 2 ** 9, 1];

/** One row per leaf under the table at `tableGpa` (level 0..3), the descriptors of the path before it. */
function walk(ram: GuestRam, tableGpa: number, level: number, startPfn: number, path: bigint[], out: string[]): void {
  for (let i = 0; i < 512; i++) {
    const d = ram.u64(tableGpa + i * 8);
    if ((d & 1n) === 0n) continue;
    const pfn = startPfn + i * LEVEL_SPAN[level]!;
    path[level] = d;
    if (level === 3 || (d & 2n) === 0n) {
      out.push(`0x${pfn.toString(16).padStart(13, '0')} |\t${path.slice(0, level + 1).map(hex16).join('\t')}`);
    } else {
      walk(ram, Number(d & 0x0000_ffff_ffff_f000n), level + 1, pfn, path, out);
    }
  }
  path[level] = 0n;
}

/** The guest's view of the device with StreamID `sid` at `ssid` (0 = traffic without PASID). */
export function dumpSmmuStream(smmu: ArmSmmuGuest, ram: GuestRam, sid: number, ssid = 0): string {
  const name = `${(sid >>> 8).toString(16).padStart(2, '0')}:${((sid >>> 3) & 0x1f).toString(16).padStart(2, '0')}.${sid & 7}`;
  if ((smmu.regs.readl(SMMU_REG.CR0) & CR0_SMMUEN) === 0) return 'arm-smmu-v3: SMMUEN is clear: translation is off\n';
  const m = smmu.masters.get(sid);
  if (!m) return `${name}: not a master of this SMMU\n`;
  const st = smmu.strtab;
  const out = [`arm-smmu-v3: stream table @0x${st.gpa.toString(16)} (${st.twoLevel ? '2-level, split 8' : 'linear'}), ${smmu.sidBits}-bit StreamIDs`];
  const steGpa = st.stePtr(sid);
  const ste = [0, 1, 2, 3].map((i) => ram.u64(steGpa + 8 * i));
  const config = Number((ste[0]! >> 1n) & 7n);
  out.push(`${name} sid 0x${sid.toString(16)} STE @0x${steGpa.toString(16)}: ${ste.map(hex16).join(' ')} (V ${ste[0]! & 1n}, config ${STE_CONFIG_NAMES[config]})`);
  if ((ste[0]! & 1n) === 0n || config !== 5) return `${out.join('\n')}\n`;
  const cdGpa = m.cdTable.cdPtr(ssid, false);
  if (cdGpa < 0) return `${out.join('\n')}\nCD ${ssid}: no table\n`;
  const cd = [0, 1, 2, 3].map((i) => ram.u64(cdGpa + 8 * i));
  const v = (cd[0]! >> 31n) & 1n;
  const asid = Number(cd[0]! >> 48n);
  const ttb0 = Number(cd[1]! & 0x000f_ffff_ffff_fff0n);
  const t0sz = Number(cd[0]! & 0x3fn);
  out.push(`CD ${ssid} @0x${cdGpa.toString(16)}: ${cd.map(hex16).join(' ')} (V ${v}, ASID ${asid}, T0SZ ${t0sz}, TTB0 0x${ttb0.toString(16)})`);
  if (!v) return `${out.join('\n')}\n`;
  out.push('', `Device 0000:${name} with pasid ${ssid.toString(16)} @0x${ttb0.toString(16)}`, `${'IOVA_PFN'.padEnd(17)}\t${'L0'.padEnd(18)}\t${'L1'.padEnd(18)}\t${'L2'.padEnd(18)}\tL3`);
  // 64 - T0SZ = 48 input bits: the walk starts at level 0.
  walk(ram, ttb0, 4 - Math.ceil((64 - t0sz - 12) / 9), 0, [0n, 0n, 0n, 0n], out);
  return `${out.join('\n')}\n`;
}
