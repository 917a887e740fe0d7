// /proc/self/exe: the running program's image, a read-only page-cache file every process of the host shares.
import { ErrnoError } from './errno.js';
import { MemObject } from './mem-object.js';
import { PAGE_SIZE } from './phys-mem.js';
import { type FileOps, O_RDONLY, OpenFile, type Vfs } from './vfs.js';
import type { FrameAllocator } from './frame-allocator.js';
import type { PhysMem } from './phys-mem.js';

/** The image size: 64 pages, the first starting with an ELF64 little-endian identification. */
export const SELF_EXE_PAGES = 64;
const ACCMODE = 3;

const exeOps: FileOps = {
  name: 'exe',
  // A private mapping copies pages on first touch; a shared writable one needs a writable file.
  mmap(file, req) {
    if (req.shared && req.write) throw new ErrnoError('EACCES', 'mmap', `${file.path} is open read-only`);
    return { obj: (file.priv as MemObject).get(), pgoff: req.offset / PAGE_SIZE };
  },
};

/** Registers /proc/self/exe; opening it for writing is ETXTBSY, as for any running executable. */
export function registerProcSelfExe(vfs: Vfs, frames: FrameAllocator, mem: PhysMem): void {
  let image: MemObject | null = null;
  vfs.register('/proc/self/exe', (_proc, flags) => {
    if ((flags & ACCMODE) !== O_RDONLY) throw new ErrnoError('ETXTBSY', 'open', '/proc/self/exe');
    if (!image) {
      image = new MemObject(frames, mem, 'file', SELF_EXE_PAGES);
      mem.write(image.populate(0) * PAGE_SIZE, Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 2, 1, 1));
    }
    return new OpenFile(exeOps, image, '/proc/self/exe', flags);
  });
}
