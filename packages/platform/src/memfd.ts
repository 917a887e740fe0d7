// memfd_create(2): an anonymous file of shared pages that can be mapped and handed to iommufd.
import { ErrnoError } from './errno.js';
import { MemObject } from './mem-object.js';
import { PAGE_SIZE } from './phys-mem.js';
import type { FileOps, OpenFile } from './vfs.js';

/** The private data of a memfd: its pages and byte size. */
export class Memfd {
  size = 0;
  constructor(
    readonly name: string,
    readonly obj: MemObject,
  ) {}
}

export const memfdOps: FileOps = {
  name: 'memfd',
  mmap(file, req) {
    const m = file.priv as Memfd;
    if (req.offset % PAGE_SIZE !== 0) throw new ErrnoError('EINVAL', 'mmap', 'offset not page aligned');
    return { obj: m.obj.get(), pgoff: req.offset / PAGE_SIZE };
  },
  truncate(file, length) {
    const m = file.priv as Memfd;
    if (!Number.isSafeInteger(length) || length < 0) throw new ErrnoError('EINVAL', 'ftruncate', `length ${length}`);
    m.obj.resize(Math.ceil(length / PAGE_SIZE));
    m.size = length;
  },
  release(file) {
    (file.priv as Memfd).obj.put();
  },
};

/** The memfd behind an open file, or undefined for any other kind of file. */
export function memfdOf(file: OpenFile): Memfd | undefined {
  return file.ops === memfdOps ? (file.priv as Memfd) : undefined;
}
