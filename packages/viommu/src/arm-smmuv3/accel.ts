// smmuv3-accel.c: the host SMMUv3 nests the guest's stage 1. On the first device a vIOMMU on the nest parent
// with abort and bypass nested HWPTs; a guest CFGI_STE installs the guest's STE as a vDEVICE plus a nested HWPT
// (or abort/bypass); guest invalidations go to the host as IOMMU_HWPT_INVALIDATE batches on the vIOMMU; host
// events come back through a vEVENTQ into the guest's event queue.
import { CERROR_ILL, GBPA_ABORT, STE_0_NESTING_ALLOWED, STE_1_NESTING_ALLOWED, STE_CFG_ABORT, STE_CFG_BYPASS, STE_CFG_S1_TRANS } from '@iommu-lab/hw-smmuv3/format';
import { IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_INVALIDATE, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, iommu_hwpt_arm_smmuv3 } from '@iommu-lab/iommu-core';
import { ErrnoError } from '@iommu-lab/platform';
import type { IommufdBackend } from '../backends/iommufd.js';
import type { HostIommuDevice } from '../vm/viommu-model.js';
import type { VmDevice } from '../vm/vm.js';
import { hostSmmuIdr, smmuV3CheckHiod } from './hiod.js';
import { smmuV3AdoptHostGranules } from './idr.js';
import type { ArmSmmuV3Device } from './smmuv3.js';
import { smmuFindSte, steConfig } from './ste.js';
import { SmmuV3Veventq } from './veventq.js';

/** SMMUv3AccelDevice: a vfio-pci device behind the vSMMU. */
export interface SmmuV3AccelDevice {
  readonly hiod: HostIommuDevice;
  readonly dev: VmDevice;
  /** The vDEVICE (virt_id = the guest StreamID), allocated on the first CFGI_STE; 0 before. */
  vdevId: number;
  /** The nested HWPT of the guest's translating STE, or 0. */
  s1Hwpt: number;
}

/** Commands one IOMMU_HWPT_INVALIDATE carries at most (its buffer in the VMM). */
const BATCH_MAX = 256;
const ste = new Uint32Array(16);

/** struct iommu_hwpt_arm_smmuv3: the vSTE's dwords 0-1. */
function vste(ste0: bigint, ste1: bigint): Uint8Array {
  return iommu_hwpt_arm_smmuv3.encode({ ste: [ste0, ste1] });
}

export class SmmuV3Accel {
  viommuId = 0;
  abortHwpt = 0;
  bypassHwpt = 0;
  backend: IommufdBackend | null = null;
  /** By guest StreamID. */
  readonly devices = new Map<number, SmmuV3AccelDevice>();
  veventq: SmmuV3Veventq | null = null;
  /** The batch of forwarded commands and the CONS of each (SMMUCommandBatch). */
  private readonly batch = new Uint8Array(16 * BATCH_MAX);
  private readonly batchView = new DataView(this.batch.buffer);
  private readonly batchCons = new Uint32Array(BATCH_MAX);
  private batchLen = 0;
  private batchVa = 0n;
  private readonly invCmd = { hwpt_id: 0, data_uptr: 0n, data_type: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entry_len: 16, entry_num: 0 };

  constructor(readonly s: ArmSmmuV3Device) {}

  /** smmuv3_accel_set_iommu_device. */
  setIommuDevice(hiod: HostIommuDevice): void {
    if (this.devices.has(hiod.guestRid)) throw new Error(`Device already has an associated hiodi 0x${hiod.guestRid.toString(16)}`);
    const first = this.devices.size === 0;
    const host = hostSmmuIdr(hiod);
    if (first && host) smmuV3AdoptHostGranules(this.s.id, host[5]!);
    smmuV3CheckHiod(this.s.id, hiod, Math.max(...this.s.vm.ram.sections.map((x) => x.gpa + x.size)));
    const dev = hiod.dev!;
    if (!this.viommuId) this.allocViommu(dev);
    this.devices.set(hiod.guestRid, { hiod, dev, vdevId: 0, s1Hwpt: 0 });
  }

  /** smmuv3_accel_alloc_viommu: the vIOMMU on VFIO's nest parent, the abort and bypass HWPTs, the GBPA attach. */
  private allocViommu(dev: VmDevice): void {
    const be = dev.vfio.backend;
    const made: number[] = [];
    try {
      this.viommuId = be.viommuAlloc(dev.vfio.devId, dev.defaultHwpt, IOMMU_VIOMMU_TYPE_ARM_SMMUV3);
      made.push(this.viommuId);
      this.backend = be;
      // Abort: V only; bypass: V | Config 0b100 (stage 1 bypassed, the nest parent still translates).
      this.abortHwpt = be.hwptAlloc(dev.vfio.devId, this.viommuId, 0, IOMMU_HWPT_DATA_ARM_SMMUV3, vste(1n, 0n));
      made.push(this.abortHwpt);
      this.bypassHwpt = be.hwptAlloc(dev.vfio.devId, this.viommuId, 0, IOMMU_HWPT_DATA_ARM_SMMUV3, vste(1n | (BigInt(STE_CFG_BYPASS) << 1n), 0n));
      made.push(this.bypassHwpt);
      this.batchVa = this.s.vm.vmm.mmap(this.batch.length, { name: 'smmuv3-accel-batch' });
      this.invCmd.hwpt_id = this.viommuId;
      this.invCmd.data_uptr = this.batchVa;
      dev.vfio.attach(this.gbpaHwpt());
    } catch (e) {
      for (const id of made.reverse()) be.destroy(id);
      this.viommuId = this.abortHwpt = this.bypassHwpt = 0;
      this.backend = null;
      throw new Error(`Unable to alloc vIOMMU: hiodi devid 0x${dev.vfio.devId.toString(16)}: ${(e as Error).message}`, { cause: e });
    }
    // After the attach (QEMU allocates it just before): a queue that exists is one the main loop watches.
    this.allocVeventq();
  }

  /** smmuv3_accel_gbpa_hwpt. */
  private gbpaHwpt(): number {
    return this.s.gbpa & GBPA_ABORT ? this.abortHwpt : this.bypassHwpt;
  }

  /** smmuv3_accel_attach_gbpa_hwpt: every device follows GBPA.ABORT while the SMMU is disabled. */
  attachGbpaHwpt(): void {
    if (!this.viommuId) return;
    for (const d of this.devices.values()) d.dev.vfio.attach(this.gbpaHwpt());
  }

  /** smmuv3_accel_alloc_veventq: once the guest enables its event queue, as deep as that queue. */
  allocVeventq(): void {
    if (!this.viommuId || this.veventq || !this.s.eventqEnabled()) return;
    try {
      this.veventq = new SmmuV3Veventq(this.s, this.backend!, this.viommuId, 2 ** this.s.eventq.log2size);
    } catch (e) {
      this.s.errors.push(`vEVENTQ allocation failed: ${(e as Error).message}`);
    }
  }

  /**
   * smmuv3_accel_install_ste: the vDEVICE on first use, then the guest STE decides: SMMU disabled -> GBPA;
   * invalid or abort -> abort; bypass -> bypass; stage 1 -> a new nested HWPT from STE dwords 0-1. False when
   * the host refused (CERROR_ILL for the guest).
   */
  installSte(sid: number): boolean {
    const d = this.devices.get(sid);
    if (!this.viommuId || !d) return true;
    const be = d.dev.vfio.backend;
    const vfio = d.dev.vfio;
    try {
      if (!d.vdevId) d.vdevId = be.vdeviceAlloc(this.viommuId, vfio.devId, BigInt(sid));
    } catch (e) {
      this.s.errors.push(`vDEVICE for sid 0x${sid.toString(16)}: ${(e as Error).message}`);
      return false;
    }
    // No STE found: nothing to install.
    if (smmuFindSte(this.s.vm.ram, this.s, sid, ste) !== 0) return true;
    let hwpt = 0;
    let s1 = 0;
    const config = steConfig(ste);
    if (!this.s.enabled()) hwpt = this.gbpaHwpt();
    else if ((ste[0]! & 1) === 0 || config < STE_CFG_BYPASS || config === STE_CFG_ABORT) hwpt = this.abortHwpt;
    else if (config === STE_CFG_BYPASS) hwpt = this.bypassHwpt;
    else if (config === STE_CFG_S1_TRANS) {
      const ste0 = ((BigInt(ste[1]!) << 32n) | BigInt(ste[0]!)) & STE_0_NESTING_ALLOWED;
      const ste1 = ((BigInt(ste[3]!) << 32n) | BigInt(ste[2]!)) & STE_1_NESTING_ALLOWED;
      try {
        // With the guest's PRI queue on, its page requests come through the vIOMMU's fault queue.
        const faultId = this.s.priqEnabled() ? this.s.pri!.faultQueue(be) : undefined;
        s1 = hwpt = be.hwptAlloc(vfio.devId, this.viommuId, 0, IOMMU_HWPT_DATA_ARM_SMMUV3, vste(ste0, ste1), faultId);
      } catch (e) {
        this.s.errors.push(`nested HWPT for sid 0x${sid.toString(16)}: ${(e as Error).message}`);
        return false;
      }
    }
    if (!hwpt) {
      this.s.errors.push(`Invalid STE config for sid 0x${sid.toString(16)}`);
      return false;
    }
    try {
      vfio.attach(hwpt);
    } catch (e) {
      if (s1) be.destroy(s1);
      this.s.errors.push(`attach of HWPT ${hwpt} for sid 0x${sid.toString(16)}: ${(e as Error).message}`);
      return false;
    }
    if (d.s1Hwpt) be.destroy(d.s1Hwpt);
    d.s1Hwpt = s1;
    if (this.s.tp.ste.enabled) this.s.tp.ste.emit({ sid, type: hwpt === this.abortHwpt ? 'abort' : hwpt === this.bypassHwpt ? 'bypass' : 'translate', hwpt });
    return true;
  }

  /** smmuv3_accel_install_ste_range: every device in [start, end]; false if any failed. */
  installSteRange(start: number, end: number): boolean {
    let ok = true;
    for (const sid of this.devices.keys()) if (sid >= start && sid <= end && !this.installSte(sid)) ok = false;
    return ok;
  }

  /**
   * Adds the command in `w` to the batch (sid >= 0: a StreamID command, forwarded only for a device with a
   * vDEVICE); returns a CERROR_* code when a full batch had to go out and the host refused it.
   */
  batchCmd(w: Uint32Array, sid: number): number {
    if (!this.viommuId) return 0;
    if (sid >= 0 && !this.devices.get(sid)?.vdevId) return 0;
    const o = this.batchLen * 16;
    for (let i = 0; i < 4; i++) this.batchView.setUint32(o + 4 * i, w[i]!, true);
    this.batchCons[this.batchLen++] = this.s.cmdq.cons;
    return this.batchLen === BATCH_MAX ? this.flushBatch() : 0;
  }

  /**
   * smmuv3_accel_issue_cmd_batch: one IOMMU_HWPT_INVALIDATE on the vIOMMU for the batch. When the host stops at
   * a command, CONS goes back to it and the guest sees CERROR_ILL there.
   */
  flushBatch(): number {
    const n = this.batchLen;
    if (n === 0) return 0;
    this.batchLen = 0;
    const cmd = this.invCmd;
    cmd.entry_num = n;
    this.s.vm.vmm.memWrite(this.batchVa, this.batch.subarray(0, n * 16));
    try {
      this.backend!.fd.ioctl(IOMMU_HWPT_INVALIDATE, cmd);
    } catch (e) {
      if (!(e instanceof ErrnoError)) throw e;
      const done = Math.min(cmd.entry_num, n - 1);
      this.s.cmdq.cons = this.batchCons[done]!;
      this.s.errors.push(`IOMMU_HWPT_INVALIDATE failed: ret=${e.code}, total=${n}, done=${cmd.entry_num}`);
      return CERROR_ILL;
    }
    return 0;
  }
}
