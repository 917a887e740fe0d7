// The two I/O page-table formats the driver writes (kernel generic_pt fmt/x86_64.h and fmt/vtdss.h).
import { IOMMU_READ, IOMMU_WRITE } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';

export interface PtFormat {
  readonly name: 'x86_64' | 'vtdss';
  /** Low-word bits of a table (non-leaf) entry. */
  readonly tableLo: number;
  /** Bits that make an entry present: P for x86-64, R or W for second stage. */
  readonly presentMask: number;
  /** The dirty bit of a leaf (x86-64 D = 6, second-stage D = 9). */
  readonly dirtyLo: number;
  /** Leaf bits (low word, high word) for IOMMU_* prot; ErrnoError when the format refuses the prot. */
  leaf(prot: number): [number, number];
}

const PS = 0x80;
export const LEAF_PS = PS;

/**
 * x86-64 first stage as the driver fills it: tables P|RW|U|A, leaves P|U|A (+RW|D when writable)
 * and XD, as the "Use 1st-level for IOVA translation" series set it on IOVA leaves.
 */
export const X86_64_FORMAT: PtFormat = {
  name: 'x86_64',
  tableLo: 0x1 | 0x2 | 0x4 | 0x20,
  presentMask: 0x1,
  dirtyLo: 0x40,
  leaf(prot) {
    const lo = 0x1 | 0x4 | 0x20 | (prot & IOMMU_WRITE ? 0x2 | 0x40 : 0);
    return [lo, 0x8000_0000];
  },
};

/** Options of a second-stage table: SNP on leaves (force coherence), no read-only leaves (nest parent, SPR17). */
export interface VtdssFeatures {
  forceCoherence: boolean;
  forceWriteable: boolean;
}

export function vtdssFormat(features: VtdssFeatures): PtFormat {
  return {
    name: 'vtdss',
    tableLo: 0x1 | 0x2,
    presentMask: 0x3,
    dirtyLo: 0x200,
    leaf(prot) {
      if (!(prot & (IOMMU_READ | IOMMU_WRITE))) throw new ErrnoError('EINVAL', 'ioctl', 'second-stage mapping without read or write');
      if (features.forceWriteable && !(prot & IOMMU_WRITE)) {
        throw new ErrnoError('EINVAL', 'ioctl', 'Read-only mapping is disallowed on the domain which serves as the parent in a nested configuration, due to HW errata (ERRATA_772415_SPR17)');
      }
      const lo = (prot & IOMMU_READ ? 0x1 : 0) | (prot & IOMMU_WRITE ? 0x2 : 0) | (features.forceCoherence ? 0x800 : 0);
      return [lo, 0];
    },
  };
}
