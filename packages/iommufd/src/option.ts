// IOMMU_OPTION: RLIMIT_MODE on the context, HUGE_PAGES on an IOAS (ioas.c, main.c).
import {
  type iommu_option,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
} from '@iommu-lab/iommu-core';
import { ErrnoError, type StructType } from '@iommu-lab/platform';
import { getIoas } from './ioas.js';
import type { Ucmd } from './ucmd.js';

type OptionCmd = StructType<typeof iommu_option>;

function rlimitMode(ucmd: Ucmd<OptionCmd>): void {
  const cmd = ucmd.cmd;
  if (cmd.object_id) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'RLIMIT_MODE takes no object');
  if (cmd.op === IOMMU_OPTION_OP_GET) {
    cmd.val64 = ucmd.ctx.accountMode === 'mm' ? 1n : 0n;
    return;
  }
  if (cmd.op !== IOMMU_OPTION_OP_SET) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `option op ${cmd.op}`);
  if (!ucmd.proc.capable('CAP_SYS_RESOURCE')) throw new ErrnoError('EPERM', 'ioctl', 'RLIMIT_MODE needs CAP_SYS_RESOURCE');
  if (!ucmd.ctx.empty) throw new ErrnoError('EBUSY', 'ioctl', 'RLIMIT_MODE can change only before any object exists');
  if (cmd.val64 === 0n) ucmd.ctx.accountMode = 'user';
  else if (cmd.val64 === 1n) ucmd.ctx.accountMode = 'mm';
  else throw new ErrnoError('EINVAL', 'ioctl', `RLIMIT_MODE value ${cmd.val64}`);
}

function hugePages(ucmd: Ucmd<OptionCmd>): void {
  const cmd = ucmd.cmd;
  const ioas = getIoas(ucmd.ctx, cmd.object_id);
  if (cmd.op === IOMMU_OPTION_OP_GET) {
    cmd.val64 = ioas.iopt.disableLargePages ? 0n : 1n;
    return;
  }
  if (cmd.op !== IOMMU_OPTION_OP_SET) throw new ErrnoError('EOPNOTSUPP', 'ioctl', `option op ${cmd.op}`);
  if (cmd.val64 === 0n) ioas.iopt.disableLarge();
  else if (cmd.val64 === 1n) ioas.iopt.enableLarge();
  else throw new ErrnoError('EINVAL', 'ioctl', `HUGE_PAGES value ${cmd.val64}`);
}

export function ioctlOption(ucmd: Ucmd<OptionCmd>): void {
  const cmd = ucmd.cmd;
  if (cmd.__reserved) throw new ErrnoError('EOPNOTSUPP', 'ioctl', '__reserved');
  if (cmd.option_id === IOMMU_OPTION_RLIMIT_MODE) rlimitMode(ucmd);
  else if (cmd.option_id === IOMMU_OPTION_HUGE_PAGES) hugePages(ucmd);
  else throw new ErrnoError('EOPNOTSUPP', 'ioctl', `option ${cmd.option_id}`);
  ucmd.respondField('val64');
}
