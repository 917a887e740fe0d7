// dma-buf: a buffer one driver exports as a file and another imports by fd (drivers/dma-buf).
import type { FileOps, OpenFile } from './vfs.js';

/** What the exporter provides: the physical range an importer may map, and cleanup. */
export interface DmaBufExporter {
  readonly name: string;
  /** The exported memory as contiguous frames; throws (ENODEV) while access is revoked. */
  physMap(): { pfn: number; npages: number };
  release(): void;
}

/** An importer's attachment: the physical range it mapped, cleared when the exporter revokes. */
export class DmaBufAttachment {
  phys: { pfn: number; npages: number } | null = null;

  constructor(
    readonly buf: DmaBuf,
    readonly onInvalidate: () => void,
  ) {}

  /** phys.len == 0: the importer must not use the memory any more. */
  get revoked(): boolean {
    return !this.phys || this.phys.npages === 0;
  }

  /** The frame of page `index` of the mapped range. */
  pfn(index: number): number {
    if (!this.phys || index >= this.phys.npages) throw new RangeError(`dma-buf page ${index} is not mapped`);
    return this.phys.pfn + index;
  }

  detach(): void {
    this.buf.detach(this);
  }
}

export class DmaBuf {
  private readonly attachments = new Set<DmaBufAttachment>();

  constructor(
    readonly size: number,
    readonly exporter: DmaBufExporter,
  ) {}

  /** dma_buf_dynamic_attach */
  attach(onInvalidate: () => void): DmaBufAttachment {
    const a = new DmaBufAttachment(this, onInvalidate);
    this.attachments.add(a);
    return a;
  }

  detach(a: DmaBufAttachment): void {
    this.attachments.delete(a);
  }

  /** dma_buf_invalidate_mappings: every importer drops what it mapped. */
  invalidateMappings(): void {
    for (const a of [...this.attachments]) a.onInvalidate();
  }
}

export const dmaBufFileOps: FileOps = {
  name: 'dmabuf',
  release(file) {
    (file.priv as DmaBuf).exporter.release();
  },
};

/** dma_buf_get(fd): the dma-buf behind an open file, or undefined for another kind of file. */
export function dmaBufOf(file: OpenFile): DmaBuf | undefined {
  return file.ops === dmaBufFileOps ? (file.priv as DmaBuf) : undefined;
}
