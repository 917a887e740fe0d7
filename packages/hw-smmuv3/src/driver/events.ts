// The event queue thread (arm_smmu_evtq_thread, arm_smmu_handle_event): records to vIOMMUs, iopf, or the log.
import { IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE, IOMMU_FAULT_PAGE_REQUEST_PASID_VALID, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, iommu_vevent_arm_smmuv3, iommuReportDeviceFault, IOMMU_PGFAULT_PERM_EXEC, IOMMU_PGFAULT_PERM_PRIV, IOMMU_PGFAULT_PERM_READ, IOMMU_PGFAULT_PERM_WRITE } from '@iommu-lab/iommu-core';
import { isErrnoError } from '@iommu-lab/platform';
import { EVT, EVT_0_SID_MASK, EVT_CLASS_NAMES, eventName, Evt } from '../format/event.js';
import { EVTQ_ENT_SIZE, Q_OVERFLOW_FLAG, queueEmpty, queueIdx, queueInc, queuePos } from '../format/queue.js';
import { SMMU_REG } from '../format/registers.js';
import type { ArmSmmuDevice } from './device.js';

const HANDLED = new Set<number>([EVT.C_BAD_STE, EVT.F_STREAM_DISABLED, EVT.C_BAD_SUBSTREAMID, EVT.C_BAD_CD, EVT.F_TRANSLATION, EVT.F_ADDR_SIZE, EVT.F_ACCESS, EVT.F_PERMISSION]);
const LOG_MAX = 256;

/** Drains EVENTQ from CONS to PROD, handling each record, then acknowledges an overflow. */
export function evtqThread(smmu: ArmSmmuDevice): void {
  const m = smmu.mmio;
  const log2 = smmu.evtqLog2;
  let cons = m.read32(SMMU_REG.EVENTQ_CONS);
  let prod = m.read32(SMMU_REG.EVENTQ_PROD);
  do {
    while (!queueEmpty(prod, cons, log2)) {
      const at = smmu.evtqBase + queueIdx(cons, log2) * EVTQ_ENT_SIZE;
      const raw = [0, 1, 2, 3].map((i) => smmu.mem.u64(at + i * 8));
      cons = ((cons & Q_OVERFLOW_FLAG) | queuePos(queueInc(cons, log2), log2)) >>> 0;
      m.write32(SMMU_REG.EVENTQ_CONS, cons);
      handleEvent(smmu, raw);
    }
    const next = m.read32(SMMU_REG.EVENTQ_PROD);
    if ((next & Q_OVERFLOW_FLAG) !== (prod & Q_OVERFLOW_FLAG)) pushLog(smmu, 'EVTQ overflow detected -- events lost');
    prod = next;
  } while (!queueEmpty(prod, cons, log2));
  // queue_sync_cons_ovf: we are up to speed, acknowledge the overflow flag
  if ((prod & Q_OVERFLOW_FLAG) !== (cons & Q_OVERFLOW_FLAG)) m.write32(SMMU_REG.EVENTQ_CONS, ((cons & ~Q_OVERFLOW_FLAG) | (prod & Q_OVERFLOW_FLAG)) >>> 0);
}

/**
 * arm_smmu_handle_event: stalls go to iopf; other handled events of a master with a vmaster go to its
 * vEVENTQ with the vSID, unless stage 2 faulted (those stay with the host); the rest are logged.
 */
function handleEvent(smmu: ArmSmmuDevice, raw: bigint[]): void {
  const e = Evt.decode(raw);
  let handled = false;
  const master = smmu.streams.get(e.sid);
  if (HANDLED.has(e.type) && master) {
    if (e.stall) {
      const perm = (e.rnw ? IOMMU_PGFAULT_PERM_READ : IOMMU_PGFAULT_PERM_WRITE) | (e.ind ? IOMMU_PGFAULT_PERM_EXEC : 0) | (e.pnu ? IOMMU_PGFAULT_PERM_PRIV : 0);
      const flags = IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE | (e.ssv ? IOMMU_FAULT_PAGE_REQUEST_PASID_VALID : 0);
      iommuReportDeviceFault(master.dev, { flags, pasid: e.ssid, grpid: e.stag, perm, addr: e.addr, privateData: { sid: e.sid, stag: e.stag } });
      handled = true;
    } else if (master.vmaster && !e.s2) {
      const evt = [(raw[0]! & ~EVT_0_SID_MASK) | (master.vmaster.vsid << 32n), raw[1]!, raw[2]!, raw[3]!];
      try {
        master.vmaster.vsmmu.core.reportEvent(IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, iommu_vevent_arm_smmuv3.encode({ evt }));
        handled = true;
      } catch (err) {
        if (!isErrnoError(err)) throw err;
      }
    }
  }
  if (!handled) dumpEvent(smmu, e, master?.dev.name);
}

function dumpEvent(smmu: ArmSmmuDevice, e: ReturnType<typeof Evt.decode>, client: string | undefined): void {
  const hex = (v: number | bigint) => `0x${v.toString(16)}`;
  let line = `event: ${eventName(e.type)} client: ${client ?? '(unassigned sid)'} sid: ${hex(e.sid)} ssid: ${hex(e.ssv ? e.ssid : 0)}`;
  if (e.type >= EVT.F_TRANSLATION && e.type <= EVT.F_PERMISSION) {
    line += ` iova: ${hex(e.addr)} ipa: ${hex(e.addr2 & ~0xfffn)} ${e.pnu ? 'priv' : 'unpriv'} ${e.ind ? 'inst' : 'data'} ${e.rnw ? 'read' : 'write'} ${e.s2 ? 's2' : 's1'} "${EVT_CLASS_NAMES[e.class] ?? '?'}"`;
  } else if (e.type === EVT.F_STE_FETCH || e.type === EVT.F_CD_FETCH) {
    line += ` fetch_addr: ${hex(e.addr2)}`;
  }
  pushLog(smmu, line);
}

function pushLog(smmu: ArmSmmuDevice, line: string): void {
  smmu.log.push(line);
  if (smmu.log.length > LOG_MAX) smmu.log.shift();
}
