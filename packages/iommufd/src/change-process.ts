// IOMMU_IOAS_CHANGE_PROCESS: move the pin accounting of every file-backed mapping to the caller.
import type { iommu_ioas_change_process } from '@iommu-lab/iommu-core';
import { ErrnoError, type Process, type StructType } from '@iommu-lab/platform';
import type { AccountMode } from './context.js';
import type { IommufdIoas } from './ioas.js';
import { chargePinned, type IoptPages, unchargePinned } from './iopt/pages.js';
import type { Ucmd } from './ucmd.js';

/** need_charge_update: does moving to `proc` change who is charged? */
function needsUpdate(pages: IoptPages, proc: Process): boolean {
  if (pages.accountMode === 'none') return false;
  if (pages.accountMode === 'mm') return pages.source !== proc;
  return pages.source.user !== proc.user || pages.source !== proc;
}

export function ioctlIoasChangeProcess(ucmd: Ucmd<StructType<typeof iommu_ioas_change_process>>): void {
  if (ucmd.cmd.__reserved) throw new ErrnoError('EOPNOTSUPP', 'ioctl', '__reserved');
  const proc = ucmd.proc;
  const areas = (ucmd.ctx.list('IOAS') as IommufdIoas[]).flatMap((ioas) => ioas.iopt.areas);
  for (const a of areas) {
    if (!a.pages) throw new ErrnoError('EBUSY', 'ioctl', 'an area is being changed');
    if (a.pages.src.kind !== 'file') throw new ErrnoError('EINVAL', 'ioctl', 'only file-backed mappings can change process');
  }
  const all = [...new Set(areas.map((a) => a.pages!))];
  const charge: Record<AccountMode, number> = { none: 0, user: 0, mm: 0 };
  for (const p of all) if (needsUpdate(p, proc)) charge[p.accountMode] += p.lastNpinned;
  const done: AccountMode[] = [];
  try {
    for (const mode of ['none', 'user', 'mm'] as const) {
      if (!charge[mode]) continue;
      chargePinned(proc, mode, charge[mode]);
      done.push(mode);
    }
  } catch (e) {
    for (const mode of done) unchargePinned(proc, mode, charge[mode]);
    throw e;
  }
  for (const p of all) {
    if (needsUpdate(p, proc)) unchargePinned(p.source, p.accountMode, p.npinned);
    p.source = proc;
  }
}
