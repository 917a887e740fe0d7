// The selftest's dma-buf exporter: kernel memory with a revoke switch (IOMMU_TEST_OP_DMABUF_*).
import { DmaBuf, dmaBufFileOps, dmaBufOf, ErrnoError, type Host, OpenFile, PAGE_SIZE, type Process } from '@iommu-lab/platform';

class TestDmaBuf {
  revoked = false;
  constructor(
    readonly host: Host,
    readonly pfn: number,
    readonly order: number,
    readonly npages: number,
  ) {}
}

const exporters = new WeakMap<DmaBuf, TestDmaBuf>();

/** iommufd_test_dmabuf_get: a zeroed contiguous buffer of up to 512 pages; returns its fd. */
export function dmabufGet(host: Host, proc: Process, length: number): number {
  const len = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
  if (len === 0 || len > PAGE_SIZE * 512) throw new ErrnoError('EINVAL', 'ioctl', `dma-buf length ${length}`);
  const npages = len / PAGE_SIZE;
  const order = Math.ceil(Math.log2(npages));
  const pfn = host.frames.alloc(order);
  const priv = new TestDmaBuf(host, pfn, order, npages);
  const buf = new DmaBuf(len, {
    name: 'iommufd_test',
    physMap() {
      if (priv.revoked) throw new ErrnoError('ENODEV', 'ioctl', 'dma-buf is revoked');
      return { pfn: priv.pfn, npages: priv.npages };
    },
    release() {
      for (let i = 0; i < 2 ** priv.order; i++) host.frames.put(priv.pfn + i);
    },
  });
  exporters.set(buf, priv);
  return proc.installFile(new OpenFile(dmaBufFileOps, buf, 'anon_inode:dmabuf'));
}

/** iommufd_test_dmabuf_revoke: EOPNOTSUPP for a dma-buf this exporter did not make. */
export function dmabufRevoke(proc: Process, fd: number, revoked: boolean): void {
  let file;
  try {
    file = proc.file(fd);
  } catch {
    throw new ErrnoError('EBADF', 'ioctl', `fd ${fd}`);
  }
  const buf = dmaBufOf(file);
  if (!buf) throw new ErrnoError('EINVAL', 'ioctl', `fd ${fd} is not a dma-buf`);
  const priv = exporters.get(buf);
  if (!priv) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'not a selftest dma-buf');
  priv.revoked = revoked;
  buf.invalidateMappings();
}
