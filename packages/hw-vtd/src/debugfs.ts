// domain_translation_struct (kernel intel/debugfs.c): every present entry of a device PASID's or a domain's tables, level by level.
import type { IommuDevice, IommuDomain } from '@iommu-lab/iommu-core';
import { type PhysMem, tableIndex } from '@iommu-lab/platform';
import { ScalableContextEntry } from './format/context-entry.js';
import {
  PASID_ENTRY_PGTT_FL_ONLY,
  PASID_ENTRY_PGTT_NESTED,
  PASID_ENTRY_PGTT_SL_ONLY,
  PasidEntry,
} from './format/pasid-entry.js';
import { DMA_GSTS_TES, DMAR_GSTS_REG, DMAR_RTADDR_REG } from './format/registers.js';
import { NestedDomain } from './driver/domain-nested.js';
import { PagingDomain } from './driver/domain-paging.js';
import type { VtdUnit } from './unit.js';

const SPAN = [1, 1, 512, 262144, 134217728, 68719476736];
const hex16 = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;
const HEADER = `${'IOVA_PFN'.padEnd(17)}\t${'PML5E'.padEnd(18)}\t${'PML4E'.padEnd(18)}\t${'PDPE'.padEnd(18)}\t${'PDE'.padEnd(18)}\tPTE`;

/** How a dump reads one table: present test, and where a table pointer's page lives in host memory. */
interface TableView {
  mem: PhysMem;
  present(v: bigint): boolean;
  /** Host page of a table address from an entry (a GPA for nested stage 1); -1 when it does not resolve. */
  host(pfn: number): number;
}

/** A second-stage lookup in software, without the hardware's caches: GPA page -> host page, or -1. */
export function ssResolve(mem: PhysMem, rootPfn: number, levels: number, gpaPfn: number): number {
  let table = rootPfn;
  for (let l = levels; l >= 1; l--) {
    const pa = table * 4096 + tableIndex(gpaPfn, l) * 8;
    if (!mem.contains(pa, 8)) return -1;
    const v = mem.u64(pa);
    if ((v & 3n) === 0n) return -1;
    const next = Number((v >> 12n) & 0xff_ffff_ffffn);
    if (l === 1 || (v & 0x80n) !== 0n) return next - (next % SPAN[l]!) + (gpaPfn % SPAN[l]!);
    table = next;
  }
  return -1;
}

/** Rows left before a table's dump stops (a stage 2 over all of guest RAM has a row per page). */
interface RowBudget {
  left: number;
  truncated: boolean;
}

/** pgtable_walk_level: one row per leaf (4 KiB or large), with the entries of every level on its path. */
function walkLevel(view: TableView, tablePfn: number, level: number, start: number, path: bigint[], out: string[], budget: RowBudget): void {
  const host = view.host(tablePfn);
  if (host < 0 || !view.mem.contains(host * 4096, 4096)) return;
  for (let i = 0; i < 512; i++) {
    if (budget.truncated) return;
    const v = view.mem.u64(host * 4096 + i * 8);
    if (!view.present(v)) continue;
    const iova = start + i * SPAN[level]!;
    path[level] = v;
    if (level === 1 || (v & 0x80n) !== 0n) {
      if (budget.left-- <= 0) {
        budget.truncated = true;
        return;
      }
      let row = `0x${iova.toString(16).padStart(13, '0')} |\t${hex16(path[5]!)}\t${hex16(path[4]!)}\t${hex16(path[3]!)}`;
      if (path[2]) {
        row += `\t${hex16(path[2])}`;
        if (path[1]) row += `\t${hex16(path[1])}`;
      }
      out.push(row);
    } else {
      walkLevel(view, Number((v >> 12n) & 0xff_ffff_ffffn), level - 1, iova, path, out, budget);
    }
    path[level] = 0n;
  }
}

function dumpTable(view: TableView, rootPfn: number, levels: number, title: string, out: string[], maxRows: number): void {
  out.push(title, HEADER);
  const budget = { left: maxRows, truncated: false };
  walkLevel(view, rootPfn, levels, 0, [0n, 0n, 0n, 0n, 0n, 0n], out, budget);
  if (budget.truncated) out.push(`... (stopped after ${maxRows} rows)`);
}

const fsPresent = (v: bigint) => (v & 1n) !== 0n;
const ssPresent = (v: bigint) => (v & 3n) !== 0n;

function stages(mem: PhysMem, pgtt: number, fs: { root: number; levels: number }, ss: { root: number; levels: number }, title: string, out: string[], maxRows: number): void {
  const direct = (p: number) => p;
  if (pgtt === PASID_ENTRY_PGTT_FL_ONLY) dumpTable({ mem, present: fsPresent, host: direct }, fs.root, fs.levels, title, out, maxRows);
  else if (pgtt === PASID_ENTRY_PGTT_SL_ONLY) dumpTable({ mem, present: ssPresent, host: direct }, ss.root, ss.levels, title, out, maxRows);
  else if (pgtt === PASID_ENTRY_PGTT_NESTED) {
    const viaSs = (gpa: number) => ssResolve(mem, ss.root, ss.levels, gpa);
    dumpTable({ mem, present: fsPresent, host: viaSs }, fs.root, fs.levels, `${title} (nested stage 1: IOVA -> GPA, tables read through stage 2)`, out, maxRows);
    dumpTable({ mem, present: ssPresent, host: direct }, ss.root, ss.levels, `${title.replace(/@0x[0-9a-f]+/, `@0x${(ss.root * 4096).toString(16)}`)} (nested stage 2: GPA -> HPA)`, out, maxRows);
  }
}

/**
 * The kernel's /sys/kernel/debug/iommu/intel/<bdf>[/<pasid>]/domain_translation_struct, from the
 * tables the hardware uses: root, context, PASID directory and entry, then the page tables.
 */
export function deviceTranslationStruct(unit: VtdUnit, dev: IommuDevice, pasid = 0, maxRows = Infinity): string {
  const hw = unit.hw;
  const mem = unit.iommu.mem;
  if ((hw.read32(DMAR_GSTS_REG) & DMA_GSTS_TES) === 0) return `DMA Remapping is not enabled on ${unit.id}\n`;
  const bus = dev.rid >>> 8;
  const devfn = dev.rid & 0xff;
  const rootPa = Number(hw.read64(DMAR_RTADDR_REG) & ~0xfffn) + bus * 16 + (devfn >= 0x80 ? 8 : 0);
  const root = mem.u64(rootPa);
  if ((root & 1n) === 0n) return '';
  const ctxPa = Number(root & ~0xfffn) + (devfn & 0x7f) * 32;
  const ctx = ScalableContextEntry.decode([0, 1, 2, 3].map((i) => mem.u64(ctxPa + i * 8)));
  if (!ctx.present) return '';
  const de = mem.u64(Number(ctx.pasidDirPtr) + (pasid >>> 6) * 8);
  if ((de & 1n) === 0n) return '';
  const pePa = Number(de & ~0xfffn) + (pasid & 63) * 64;
  const pe = PasidEntry.decode(Array.from({ length: 8 }, (_, i) => mem.u64(pePa + i * 8)));
  if (!pe.present) return '';
  const pgd = pe.pgtt === PASID_ENTRY_PGTT_FL_ONLY || pe.pgtt === PASID_ENTRY_PGTT_NESTED ? pe.fsptptr : pe.ssptptr;
  const name = dev.pci?.bdf ?? dev.name;
  const out: string[] = [];
  const title = `Device ${name} with pasid ${pasid.toString(16)} @0x${pgd.toString(16)}`;
  stages(mem, pe.pgtt, { root: Number(pe.fsptptr) / 4096, levels: pe.fspm + 4 }, { root: Number(pe.ssptptr) / 4096, levels: pe.aw + 2 }, title, out, maxRows);
  return out.length ? `${out.join('\n')}\n` : '';
}

/** The same dump for a domain's own tables (a nested domain: its stage 1 through its parent, then the parent). */
export function domainTranslationStruct(domain: IommuDomain, maxRows = Infinity): string {
  const out: string[] = [];
  if (domain instanceof PagingDomain) {
    const mem = domain.ptMemory;
    const pgtt = domain.stage === 'first' ? PASID_ENTRY_PGTT_FL_ONLY : PASID_ENTRY_PGTT_SL_ONLY;
    const t = { root: domain.pt.root, levels: domain.pt.levels };
    stages(mem, pgtt, t, t, `Domain (${domain.stage} stage) @0x${domain.pt.rootPa.toString(16)}`, out, maxRows);
  } else if (domain instanceof NestedDomain) {
    const s2 = domain.s2;
    const fs = { root: Number(domain.s1.pgtblAddr >> 12n), levels: domain.s1.addrWidth === 57 ? 5 : 4 };
    stages(s2.ptMemory, PASID_ENTRY_PGTT_NESTED, fs, { root: s2.pt.root, levels: s2.pt.levels }, `Domain (nested) @0x${(fs.root * 4096).toString(16)}`, out, maxRows);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
