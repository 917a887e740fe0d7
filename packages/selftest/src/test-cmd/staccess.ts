// struct selftest_access: an iommufd access behind an anon fd, with pinned items (IOMMU_TEST_OP_*ACCESS*).
import { accessCreate, accessDestroy, type IommufdAccess, type IommufdCtx } from '@iommu-lab/iommufd';
import { ErrnoError, type FileOps, OpenFile, type Process } from '@iommu-lab/platform';

interface Item {
  iova: bigint;
  length: bigint;
  id: number;
}

export class SelftestAccess {
  access: IommufdAccess | null = null;
  readonly items: Item[] = [];
  nextId = 0;

  /** iommufd_test_access_unmap: unpin every item that intersects the range. */
  unmap(iova: bigint, length: bigint): void {
    const last = iova + length - 1n;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i]!;
      if (iova > item.iova + item.length - 1n || last < item.iova) continue;
      this.items.splice(i, 1);
      this.access!.unpinPages(item.iova, item.length);
    }
  }
}

const staccessOps: FileOps = {
  name: '[iommufd_test_staccess]',
  release(file) {
    const s = file.priv as SelftestAccess;
    if (s.access) {
      s.unmap(0n, (1n << 64n) - 1n);
      accessDestroy(s.access);
    }
  },
};

/** iommufd_access_get: the selftest access behind an fd; EBADFD for anything else. */
export function staccessGet(proc: Process, fd: number): SelftestAccess {
  let file;
  try {
    file = proc.file(fd);
  } catch {
    throw new ErrnoError('EBADFD', 'ioctl', `fd ${fd}`);
  }
  if (file.ops !== staccessOps) throw new ErrnoError('EBADFD', 'ioctl', `fd ${fd} is not a selftest access`);
  return file.priv as SelftestAccess;
}

/** iommufd_test_create_access: the access attached to the IOAS; returns the new fd. */
export function createAccess(ctx: IommufdCtx, proc: Process, ioasId: number, needsPin: boolean, respond: (fd: number) => void): void {
  // iommufd_test_alloc_access: the selftest_access, then its anon_inode_getfile.
  ctx.faults.check('iommufd_test_alloc_access');
  ctx.faults.check('anon_inode_getfile');
  const s = new SelftestAccess();
  const file = new OpenFile(staccessOps, s, '[iommufd_test_staccess]');
  let access: IommufdAccess;
  try {
    access = accessCreate(ctx, { needsPinPages: needsPin, unmap: (iova, length) => s.unmap(iova, length) });
  } catch (e) {
    file.put();
    throw e;
  }
  let fd = -1;
  try {
    access.attach(ioasId);
    fd = proc.installFile(file);
    respond(fd);
  } catch (e) {
    if (fd >= 0) proc.close(fd);
    else file.put();
    accessDestroy(access);
    throw e;
  }
  s.access = access;
}
