// Table geometry per stage (kernel compute_vasz_lg2_fs/_ss) and paging_domain_compatible_{first,second}_stage.
import type { IntelIommu } from './intel-iommu.js';

export interface Geometry {
  levels: number;
  vaszLg2: number;
  pgsizes: number[];
  /** Page walks snoop (PASID entry PWSNP): the unit's paging structures are coherent. */
  pageWalkSnoop: boolean;
}

const SZ_4K = 4096;
const SZ_2M = 2 ** 21;
const SZ_1G = 2 ** 30;

/** First stage: 5 levels only with MGAW > 48 and FS5LP; the sign-extended lower half is the aperture. */
export function firstStageGeometry(iommu: IntelIommu): Geometry {
  const mgaw = iommu.c.mgaw + 1;
  const five = mgaw > 48 && iommu.c.fs5lp;
  return {
    levels: five ? 5 : 4,
    vaszLg2: five ? Math.min(57, mgaw) : Math.min(48, mgaw),
    pgsizes: iommu.c.fs1gp ? [SZ_4K, SZ_2M, SZ_1G] : [SZ_4K, SZ_2M],
    pageWalkSnoop: iommu.e.smpwcs,
  };
}

/** Second stage: the largest table both MGAW and SAGAW allow; SSLPS decides the large pages. */
export function secondStageGeometry(iommu: IntelIommu): Geometry | null {
  const sagaw = iommu.c.sagaw;
  const mgaw = iommu.c.mgaw + 1;
  const ffs = (x: number) => (x === 0 ? 0 : Math.log2(x & -x) + 1);
  let top: number;
  let vasz: number;
  if (mgaw > 48 && sagaw >= 8) [top, vasz] = [4, Math.min(57, mgaw)];
  else if (mgaw > 39 && sagaw >= 4) [top, vasz] = [3 + ffs(sagaw >> 3), Math.min(48, mgaw)];
  else if (mgaw > 30 && sagaw >= 2) [top, vasz] = [2 + ffs(sagaw >> 2), Math.min(39, mgaw)];
  else return null;
  const pgsizes = [SZ_4K];
  if (iommu.c.sslps & 1) pgsizes.push(SZ_2M);
  if (iommu.c.sslps & 2) pgsizes.push(SZ_1G);
  return { levels: top + 1, vaszLg2: vasz, pgsizes, pageWalkSnoop: iommu.sm ? iommu.e.smpwcs : iommu.e.c };
}

interface StageDomain {
  readonly geo: Geometry;
  readonly pgsizes: readonly number[];
  readonly nestedParent: boolean;
  readonly dirtyOps?: unknown;
  readonly iotlbSyncMap: boolean;
  readonly forceSnooping: boolean;
  readonly stage: 'first' | 'second';
}

/** paging_domain_compatible_first_stage: a reason, or null when the unit can use the table. */
export function checkFirstStage(d: StageDomain, iommu: IntelIommu): string | null {
  if (d.dirtyOps || d.nestedParent) return 'dirty tracking or nest parent on a first-stage table';
  if (!iommu.sm || !iommu.e.fsts) return 'no first-stage translation';
  if (!iommu.e.smpwcs && d.geo.pageWalkSnoop) return 'page walks not coherent';
  if (!iommu.c.fs5lp && d.geo.vaszLg2 > 48) return 'no 5-level first stage';
  if (!iommu.c.fs1gp && d.pgsizes.includes(SZ_1G)) return 'no first-stage 1 GiB pages';
  if (iommu.c.rwbf && !d.iotlbSyncMap) return 'write buffer flush needed on map';
  return null;
}

/** paging_domain_compatible_second_stage. */
export function checkSecondStage(d: StageDomain, iommu: IntelIommu): string | null {
  const sslps = iommu.c.sslps;
  if (d.dirtyOps && !iommu.ssadsSupported) return 'no second-stage A/D bits';
  if (d.nestedParent && !iommu.nestedSupported) return 'no nesting';
  if (iommu.sm && !iommu.e.ssts) return 'no second-stage translation';
  if (iommu.c.mgaw + 1 < d.geo.vaszLg2) return 'address width beyond MGAW';
  if ((iommu.c.sagaw & (1 << (d.geo.levels - 2))) === 0) return 'table levels not in SAGAW';
  if (!(sslps & 1) && d.pgsizes.includes(SZ_2M)) return 'no 2 MiB second-stage pages';
  if (!(sslps & 2) && d.pgsizes.includes(SZ_1G)) return 'no 1 GiB second-stage pages';
  if ((iommu.c.rwbf || iommu.c.cm) && !d.iotlbSyncMap) return 'flush on map needed';
  if (d.forceSnooping && d.stage === 'second' && !iommu.e.sc) return 'no snoop control';
  return null;
}
