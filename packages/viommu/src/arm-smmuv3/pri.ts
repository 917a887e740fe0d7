// PRI on the accelerated arm-smmuv3 (pri=on; QEMU has none yet, so this is the spec's PRI queue, IHI0070 8): the
// host's page requests for the VM come from the vIOMMU's iommufd FAULT queue (read when the kernel wakes the VMM),
// become 16-byte PRI records with the guest's StreamID and SubstreamID in the guest's PRI queue, and the guest's
// CMD_PRI_RESP becomes a struct iommu_hwpt_page_response written back to the fault fd.
import { GERROR_PRIQ_ABT_ERR, PRI_RESP_SUCC, PRIQ_ENT_SIZE, PriqRecord, Q_OVERFLOW_FLAG as OVF } from '@iommu-lab/hw-smmuv3/format';
import {
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  IOMMU_PGFAULT_FLAGS_LAST_PAGE,
  IOMMU_PGFAULT_FLAGS_PASID_VALID,
  IOMMU_PGFAULT_PERM_EXEC,
  IOMMU_PGFAULT_PERM_PRIV,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
} from '@iommu-lab/iommu-core';
import type { IommufdBackend } from '../backends/iommufd.js';
import { type HostPageFault, HostFaultQueue, writePageResponse } from '../vm/host-fault-queue.js';
import type { ArmSmmuV3Device } from './smmuv3.js';

export interface SmmuV3PriStats {
  /** Fault records read from the host, records written to the guest, and responses written back. */
  read: number;
  queued: number;
  responses: number;
  /** Groups answered by the unit itself: PRIQ disabled (INVALID), overflow (SUCCESS), no such device. */
  answered: number;
  lost: number;
}

export class SmmuV3Pri {
  private queue: HostFaultQueue | null = null;
  readonly stats: SmmuV3PriStats = { read: 0, queued: 0, responses: 0, answered: 0, lost: 0 };
  /** Groups handed to the guest and not answered yet: "sid:prgi" -> the host's cookie. */
  private readonly pending = new Map<string, { cookie: number; ssid: number }>();

  constructor(private readonly s: ArmSmmuV3Device) {}

  /** The vIOMMU's FAULT queue (IOMMU_FAULT_QUEUE_ALLOC) on first use: the fault id nested HWPTs are allocated with. */
  faultQueue(be: IommufdBackend): number {
    this.queue ??= new HostFaultQueue(this.s.vm, be, (f) => this.deliver(f), this.s.errors);
    return this.queue.id;
  }

  /** The fault object's ID, 0 before the first nested HWPT needed one. */
  get faultId(): number {
    return this.queue?.id ?? 0;
  }

  /** One host fault record (struct iommu_hwpt_pgfault) for the guest. */
  deliver(f: HostPageFault): void {
    this.stats.read++;
    const s = this.s;
    const last = (f.flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE) !== 0;
    const ssv = (f.flags & IOMMU_PGFAULT_FLAGS_PASID_VALID) !== 0;
    const sid = this.guestSid(f.dev_id);
    if (sid < 0) return this.answer(f.cookie, last, IOMMU_PAGE_RESP_INVALID);
    // PRIQEN clear: nobody in the guest takes PRI.
    if (!s.priqEnabled()) return this.answer(f.cookie, last, IOMMU_PAGE_RESP_INVALID);
    const q = s.priq;
    if (q.full()) {
      // Overflow (IHI0070 8): OVFLG toggles once per episode and the group is answered Success, to be retried.
      this.stats.lost++;
      if ((q.prod & OVF) === (q.cons & OVF)) q.prod = (q.prod ^ OVF) >>> 0;
      return this.answer(f.cookie, last, IOMMU_PAGE_RESP_SUCCESS);
    }
    const at = q.prodEntry();
    const ram = s.vm.ram;
    if (!ram.contains(at, PRIQ_ENT_SIZE)) {
      s.triggerIrq('gerror', GERROR_PRIQ_ABT_ERR);
      return this.answer(f.cookie, last, IOMMU_PAGE_RESP_INVALID);
    }
    const p = f.perm;
    const rec = PriqRecord.encode({
      sid,
      ssid: ssv ? f.pasid & 0xfffff : 0,
      priv: p & IOMMU_PGFAULT_PERM_PRIV ? 1 : 0,
      exec: p & IOMMU_PGFAULT_PERM_EXEC ? 1 : 0,
      read: p & IOMMU_PGFAULT_PERM_READ ? 1 : 0,
      write: p & IOMMU_PGFAULT_PERM_WRITE ? 1 : 0,
      last: last ? 1 : 0,
      ssv: ssv ? 1 : 0,
      prgIndex: f.grpid & 0x1ff,
      addr: f.addr & ~0xfffn,
    });
    ram.setU64(at, rec[0]!);
    ram.setU64(at + 8, rec[1]!);
    // The guest may answer inside the interrupt it is about to get: remember the cookie first.
    if (last) this.pending.set(`${sid}:${f.grpid & 0x1ff}`, { cookie: f.cookie, ssid: ssv ? f.pasid : -1 });
    q.prodIncr();
    this.stats.queued++;
    if (s.tp.pri.enabled) s.tp.pri.emit({ sid, ssid: ssv ? f.pasid : -1, addr: `0x${f.addr.toString(16)}`, prgi: f.grpid, last });
    s.triggerIrq('priq');
  }

  /** The guest's CMD_PRI_RESP: Success stays SUCCESS; Deny and Fail become INVALID (the codes iommufd takes). */
  respond(sid: number, ssv: boolean, ssid: number, prgi: number, resp: number): void {
    const key = `${sid}:${prgi}`;
    const p = this.pending.get(key);
    if (!p || (ssv && p.ssid !== ssid)) return;
    this.pending.delete(key);
    this.stats.responses++;
    this.write(p.cookie, resp === PRI_RESP_SUCC ? IOMMU_PAGE_RESP_SUCCESS : IOMMU_PAGE_RESP_INVALID);
  }

  /** Groups the guest has not answered yet. */
  get outstanding(): number {
    return this.pending.size;
  }

  /** The guest StreamID of the device an iommufd dev_id names, or -1. */
  private guestSid(devId: number): number {
    for (const [sid, d] of this.s.accel?.devices ?? []) if (d.dev.vfio.devId === devId) return sid;
    return -1;
  }

  /** A group the unit answers by itself (only the last page of a group carries a response). */
  private answer(cookie: number, last: boolean, code: number): void {
    if (!last) return;
    this.stats.answered++;
    this.write(cookie, code);
  }

  private write(cookie: number, code: number): void {
    writePageResponse(this.s.vm, this.queue?.fd ?? -1, cookie, code, this.s.errors);
  }
}
