// The virtual command interface of the emulated unit (VT-d 10.4.43-45; QEMU's 2020 vSVA series): the guest writes
// VCMD_REG, the VMM allocates or frees a PASID of the VM's set and answers in VCRSP_REG within the same exit.
import {
  DMA_VCS_PAS,
  DMAR_VCCAP_REG,
  DMAR_VCMD_REG,
  DMAR_VCRSP_REG,
  VCMD_CMD_ALLOC,
  VCMD_CMD_FREE,
  VCMD_VRSP_SC_INVALID_PASID,
  VCMD_VRSP_SC_NO_PASID_AVAIL,
  VCMD_VRSP_SC_SUCCESS,
  vcrspEncode,
} from '@iommu-lab/hw-vtd/format';
import type { Tracepoint } from '@iommu-lab/platform';
import type { VmPasids } from './pasid-alloc.js';
import type { VtdCsr } from './regs.js';

/** VCCAP (PAS when the unit has the interface), VCMD (written by the guest), VCRSP (read-only to the guest). */
export function defineVcmdRegs(csr: VtdCsr, vcs: boolean): void {
  csr.defineQuad(DMAR_VCCAP_REG, vcs ? DMA_VCS_PAS : 0n, 0n, 0n);
  csr.defineQuad(DMAR_VCMD_REG, 0n, vcs ? 0xffff_ffff_ffff_ffffn : 0n, 0n);
  csr.defineQuad(DMAR_VCRSP_REG, 0n, 0n, 0n);
}

export interface VcmdHooks {
  pasids(): VmPasids;
  /** The largest PASID the VM's devices and the unit's PSS allow. */
  maxPasid(): number;
  /** A freed PASID: whatever the VMM bound at it goes first. */
  unbind(pasid: number): void;
}

export class VtdVcmd {
  allocs = 0;
  frees = 0;
  refused = 0;

  constructor(
    private readonly csr: VtdCsr,
    private readonly hooks: VcmdHooks,
    private readonly tp: Tracepoint,
  ) {}

  /** vtd_handle_vcmd_write: the command in VCMD_REG 7:0, the operand from bit 16. */
  write(): void {
    const lo = this.csr.raw(DMAR_VCMD_REG);
    const hi = this.csr.raw(DMAR_VCMD_REG + 4);
    const cmd = lo & 0xff;
    const operand = ((lo >>> 16) | ((hi & 0xf) << 16)) >>> 0;
    let rsp: bigint;
    if (cmd === VCMD_CMD_ALLOC) {
      const pasid = this.hooks.pasids().alloc(this.hooks.maxPasid());
      rsp = pasid < 0 ? vcrspEncode(VCMD_VRSP_SC_NO_PASID_AVAIL) : vcrspEncode(VCMD_VRSP_SC_SUCCESS, pasid);
      if (pasid < 0) this.refused++;
      else this.allocs++;
    } else if (cmd === VCMD_CMD_FREE) {
      const pasids = this.hooks.pasids();
      if (pasids.owns(operand)) {
        this.hooks.unbind(operand);
        pasids.free(operand);
        this.frees++;
        rsp = vcrspEncode(VCMD_VRSP_SC_SUCCESS);
      } else {
        this.refused++;
        rsp = vcrspEncode(VCMD_VRSP_SC_INVALID_PASID);
      }
    } else {
      // An unknown command: "unexpected" status 1 (any non-zero code the guest does not know).
      rsp = vcrspEncode(1);
    }
    if (this.tp.enabled) this.tp.emit({ cmd, operand, rsp: `0x${rsp.toString(16)}` });
    this.csr.setRawQuad(DMAR_VCRSP_REG, rsp);
  }
}
