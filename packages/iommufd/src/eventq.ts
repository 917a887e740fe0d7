// struct iommufd_eventq: the anonymous file behind FAULT and vEVENTQ objects (eventq.c).
import { ErrnoError, type FileOps, O_RDWR, OpenFile, POLLIN, POLLOUT, POLLRDNORM, type Process } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import { IommufdObject } from './object.js';

export abstract class IommufdEventq extends IommufdObject {
  file: OpenFile<IommufdEventq> | null = null;

  constructor(readonly ctx: IommufdCtx) {
    super();
  }

  /** True when something waits to be read. */
  abstract get pending(): boolean;
}

/** iommufd_eventq_fops_poll: FAULT files are always writable (responses). */
function eventqPoll(file: OpenFile): number {
  const q = file.priv as IommufdEventq;
  let mask = q.type === 'FAULT' ? POLLOUT : 0;
  if (q.pending) mask |= POLLIN | POLLRDNORM;
  return mask;
}

/** iommufd_eventq_fops_release: the file's users reference and its context reference go. */
function eventqRelease(file: OpenFile): void {
  const q = file.priv as IommufdEventq;
  q.put();
  q.ctx.file?.put();
}

/** INIT_EVENTQ_FOPS */
export function eventqFops(name: string, read: FileOps['read'], write?: FileOps['write']): FileOps {
  return { name, read, write, poll: eventqPoll, release: eventqRelease };
}

/**
 * iommufd_eventq_init + fd_install: the file holds a users reference on the object and one on the
 * context. Returns the installed descriptor; `respond` runs before it is visible, and a failure
 * closes it again.
 */
export function eventqInstall(q: IommufdEventq, proc: Process, path: string, fops: FileOps, respond: (fd: number) => void): number {
  // anon_inode_getfile allocates the dentry and the struct file.
  q.ctx.faults.check('anon_inode_getfile');
  const file = new OpenFile<IommufdEventq>(fops, q, path, O_RDWR);
  q.ctx.file?.get();
  q.get();
  q.file = file;
  const fd = proc.installFile(file);
  try {
    respond(fd);
  } catch (e) {
    proc.close(fd);
    q.file = null;
    throw e;
  }
  return fd;
}

/** FAULT reads and writes move whole records; anything else is ESPIPE, as for a non-zero offset. */
export function checkWholeRecords(count: number, size: number): void {
  if (count % size) throw new ErrnoError('ESPIPE', 'read', `count ${count} is not a multiple of ${size}`);
}
