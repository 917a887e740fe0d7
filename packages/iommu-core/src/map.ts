// iommu_map / iommu_unmap / iommu_iova_to_phys: splitting ranges into the domain's page sizes.
import { ErrnoError } from '@iommu-lab/platform';
import type { IommuDomain, MapProgress } from './domain.js';
import { IotlbGather } from './gather.js';

/**
 * iommu_pgsize: the largest supported page size that fits the alignment of iova and paddr and the
 * remaining size, and how many such pages to map before a larger page size could take over.
 */
export function iommuPgsize(pgsizes: readonly number[], iova: number, paddr: number, size: number): { pgsize: number; count: number } {
  let idx = -1;
  for (let i = 0; i < pgsizes.length; i++) {
    const s = pgsizes[i]!;
    if (s <= size && iova % s === 0 && paddr % s === 0) idx = i;
  }
  if (idx < 0) throw new ErrnoError('EINVAL', 'iommu_map', `no page size fits iova 0x${iova.toString(16)} size 0x${size.toString(16)}`);
  const pgsize = pgsizes[idx]!;
  const next = pgsizes[idx + 1];
  let span = size;
  if (next !== undefined && (iova - paddr) % next === 0) {
    const offset = next - (iova % next);
    if (offset + next <= size) span = offset;
  }
  return { pgsize, count: Math.floor(span / pgsize) };
}

function minPgsize(domain: IommuDomain): number {
  const s = domain.pgsizes[0];
  if (s === undefined || !domain.mapPages || !domain.unmapPages) {
    throw new ErrnoError('EOPNOTSUPP', 'iommu_map', `a ${domain.type} domain cannot be mapped`);
  }
  return s;
}

/** iommu_map: maps [iova, iova + size) -> paddr with prot; on failure nothing stays mapped. */
export function iommuMap(domain: IommuDomain, iova: number, paddr: number, size: number, prot: number): void {
  const min = minPgsize(domain);
  if (iova % min !== 0 || paddr % min !== 0 || size % min !== 0 || size === 0) {
    throw new ErrnoError('EINVAL', 'iommu_map', `iova 0x${iova.toString(16)} pa 0x${paddr.toString(16)} size 0x${size.toString(16)} not aligned to 0x${min.toString(16)}`);
  }
  let done = 0;
  const progress: MapProgress = { mapped: 0 };
  try {
    while (done < size) {
      const { pgsize, count } = iommuPgsize(domain.pgsizes, iova + done, paddr + done, size - done);
      progress.mapped = 0;
      domain.mapPages!(iova + done, paddr + done, pgsize, count, prot, progress);
      if (progress.mapped !== pgsize * count) throw new ErrnoError('ENOMEM', 'iommu_map', 'map_pages stopped short');
      done += progress.mapped;
      progress.mapped = 0;
    }
  } catch (e) {
    done += progress.mapped;
    if (done > 0) iommuUnmap(domain, iova, done);
    throw e;
  }
}

/** iommu_unmap: unmaps up to size bytes from iova; returns how many were unmapped; flushes once. */
export function iommuUnmap(domain: IommuDomain, iova: number, size: number): number {
  const min = minPgsize(domain);
  if (iova % min !== 0 || size % min !== 0) {
    throw new ErrnoError('EINVAL', 'iommu_unmap', `iova 0x${iova.toString(16)} size 0x${size.toString(16)} not aligned to 0x${min.toString(16)}`);
  }
  const gather = new IotlbGather();
  let done = 0;
  while (done < size) {
    const { pgsize, count } = iommuPgsize(domain.pgsizes, iova + done, iova + done, size - done);
    const n = domain.unmapPages!(iova + done, pgsize, count, gather);
    if (n === 0) break;
    done += n;
  }
  domain.iotlbSync?.(gather);
  return done;
}

/** iommu_iova_to_phys: -1 when iova is not mapped. */
export function iommuIovaToPhys(domain: IommuDomain, iova: number): number {
  if (domain.type === 'identity') return iova;
  if (!domain.iovaToPhys) return -1;
  return domain.iovaToPhys(iova);
}
