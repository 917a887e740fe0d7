// IntelIOMMUState: what the register handlers, the invalidation handlers and the address spaces share.
import type { Tracepoint } from '@iommu-lab/platform';
import type { Vm } from '../vm/vm.js';
import type { IntelIommuConfig } from './config.js';
import type { VtdAddressSpace } from './address-space.js';
import type { VtdPageFaults } from './page-fault.js';
import type { VtdSva } from './pasid-bind.js';
import type { VtdStructureConfig } from './structures.js';

export interface VtdState {
  readonly vm: Vm;
  readonly cfg: IntelIommuConfig;
  readonly cap: bigint;
  readonly ecap: bigint;
  /** What the structure lookups check against (address width, reported stages, SAGAW). */
  readonly structCfg: VtdStructureConfig;
  /** Root table GPA latched by SRTP, and RTADDR.TTM = scalable. */
  root: number;
  rootScalable: boolean;
  /** GSTS.TES. */
  dmarEnabled: boolean;
  /** Bumped by global context-cache invalidations (context_cache_gen). */
  contextCacheGen: number;
  /** One address space per assigned device (RID; requests without PASID). */
  readonly spaces: VtdAddressSpace[];
  /** What QEMU would error_report and carry on from (failed host binds, host invalidations). */
  readonly errors: string[];
  /** vSVA (svm=on): guest PASIDs other than 0 bound on the host, and their recoverable faults; null without svm. */
  sva: VtdSva | null;
  pageFaults: VtdPageFaults | null;
  /** vtd_pasid_bind (guest PASID entry -> host HWPT), vtd_page_walk (a shadow sync of a range). */
  readonly tp: { bind: Tracepoint; walk: Tracepoint };
}
