// What svm=on adds to the emulated unit: the virtual command interface (PASIDs from the VM's set), the page request
// queue fed from the host's fault queues, and the binding of guest PASIDs other than 0 to the host.
import { DMAR_PECTL_REG, DMAR_VCMD_REG } from '@iommu-lab/hw-vtd/format';
import type { VtdFaultUnit } from './fault.js';
import { VtdPageFaults } from './page-fault.js';
import { VmPasids } from './pasid-alloc.js';
import { VtdSva } from './pasid-bind.js';
import { definePrqRegs, VtdPrq } from './prq.js';
import type { VtdCsr } from './regs.js';
import type { VtdState } from './state.js';
import { defineVcmdRegs, VtdVcmd } from './vcmd.js';
import { VTD_ECAP_PSS } from './caps.js';

/** The guest-visible registers of both interfaces (present, or read-only zero without svm). */
export function defineSvmRegs(csr: VtdCsr, svm: boolean): void {
  definePrqRegs(csr, svm);
  defineVcmdRegs(csr, svm);
}

export class VtdSvm {
  readonly prq: VtdPrq;
  readonly pageFaults: VtdPageFaults;
  readonly vcmd: VtdVcmd;
  readonly sva: VtdSva;
  private pasidSet: VmPasids | null = null;

  constructor(
    private readonly s: VtdState,
    csr: VtdCsr,
    faults: VtdFaultUnit,
    interrupt: (addr: number, data: number) => void,
  ) {
    this.prq = new VtdPrq(csr, s.vm.ram, faults, interrupt);
    this.pageFaults = new VtdPageFaults(s, this.prq);
    this.sva = new VtdSva(s, this.pageFaults, () => this.pasids);
    this.vcmd = new VtdVcmd(
      csr,
      { pasids: () => this.pasids, maxPasid: () => this.maxPasid(), unbind: (p) => this.sva.unbindPasid(p) },
      s.vm.host.trace.point('vtd_vcmd', 'viommu'),
    );
    s.sva = this.sva;
    s.pageFaults = this.pageFaults;
  }

  /** The VM's PASID set, created on the first virtual command. */
  get pasids(): VmPasids {
    this.pasidSet ??= new VmPasids(this.s.vm.host, this.s.vm, this.s.cfg.pasidQuota);
    return this.pasidSet;
  }

  /** The largest PASID both the unit (PSS) and every assigned device (GET_HW_INFO's max_pasid_log2) can carry. */
  maxPasid(): number {
    let bits = VTD_ECAP_PSS + 1;
    for (const as of this.s.spaces) bits = Math.min(bits, as.hiod.caps?.maxPasidLog2 ?? 0);
    return 2 ** bits - 1;
  }

  /** Register writes that belong to svm; true when handled. */
  write(off: number, size: 4 | 8): boolean {
    if ((off === DMAR_VCMD_REG && size === 8) || off === DMAR_VCMD_REG + 4) {
      this.vcmd.write();
      return true;
    }
    if (off === DMAR_PECTL_REG) {
      this.prq.pectlWritten();
      return true;
    }
    return false;
  }

  /** VM teardown: every PASID binding undone, the VM's PASIDs and its set given back. */
  unrealize(): void {
    this.sva.reset();
    this.pasidSet?.release();
    this.pasidSet = null;
  }
}
