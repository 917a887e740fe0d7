// The vEVENTQ of the accelerated SMMUv3 (smmuv3_accel_event_read): the VMM's main loop reads host events, each a
// struct iommufd_vevent_header + struct iommu_vevent_arm_smmuv3 whose StreamID the kernel already made the vSID,
// checks the sequence for gaps, and writes the record into the guest's event queue.
import { IOMMU_VEVENTQ_FLAG_LOST_EVENTS, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, iommu_vevent_arm_smmuv3, iommufd_vevent_header } from '@iommu-lab/iommu-core';
import type { IommufdBackend } from '../backends/iommufd.js';
import { smmuV3PropagateEvent } from './evtq.js';
import type { ArmSmmuV3Device } from './smmuv3.js';

const HDR = iommufd_vevent_header.size;
const REC = HDR + iommu_vevent_arm_smmuv3.size;
/** Records taken per read(2). */
const READ_RECORDS = 64;

export class SmmuV3Veventq {
  readonly id: number;
  readonly fd: number;
  lastSeq = 0;
  /** False until the first event, and again after an overflow (no gap is reported across it). */
  eventStart = false;
  delivered = 0;
  private readonly evt = new Uint32Array(8);

  constructor(
    private readonly s: ArmSmmuV3Device,
    backend: IommufdBackend,
    viommuId: number,
    depth: number,
  ) {
    const q = backend.veventqAlloc(viommuId, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, depth);
    this.id = q.id;
    this.fd = q.fd;
    s.vm.addFdHandler(this.fd, () => this.read());
  }

  /** Drains the queue into the guest's event queue. */
  read(): void {
    const proc = this.s.vm.vmm;
    for (;;) {
      const bytes = proc.read(this.fd, REC * READ_RECORDS);
      if (bytes.length === 0) return;
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let off = 0; off + HDR <= bytes.length; ) {
        const flags = dv.getUint32(off, true);
        const seq = dv.getUint32(off + 4, true);
        if (flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) {
          this.s.errors.push(`vEVENTQ(type ${IOMMU_VEVENTQ_TYPE_ARM_SMMUV3} id ${this.id}): overflowed`);
          this.eventStart = false;
          off += HDR;
          continue;
        }
        if (off + REC > bytes.length) {
          this.s.errors.push(`vEVENTQ(type ${IOMMU_VEVENTQ_TYPE_ARM_SMMUV3} id ${this.id}): short read(${bytes.length - off}/${REC} bytes)`);
          return;
        }
        if (this.eventStart && seq - this.lastSeq !== 1) {
          this.s.errors.push(`vEVENTQ(type ${IOMMU_VEVENTQ_TYPE_ARM_SMMUV3} id ${this.id}): lost ${seq - this.lastSeq - 1} event(s)`);
        }
        this.lastSeq = seq;
        this.eventStart = true;
        for (let i = 0; i < 8; i++) this.evt[i] = dv.getUint32(off + HDR + 4 * i, true);
        smmuV3PropagateEvent(this.s, this.evt);
        this.delivered++;
        off += REC;
      }
    }
  }
}
