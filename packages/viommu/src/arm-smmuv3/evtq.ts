// smmuv3_write_eventq / smmuv3_propagate_event: a 32-byte event record (IHI0070 7.3) into the guest's event
// queue in guest RAM, then the event queue interrupt; a disabled or full queue is GERROR.EVENTQ_ABT_ERR.
import { eventName, GERROR_EVTQ_ABT_ERR } from '@iommu-lab/hw-smmuv3/format';
import type { ArmSmmuV3Device } from './smmuv3.js';

/** Writes the record (8 words, little-endian dwords) at EVENTQ_PROD; false when the queue cannot take it. */
export function smmuV3WriteEventq(s: ArmSmmuV3Device, evt: Uint32Array): boolean {
  const q = s.eventq;
  if (!s.eventqEnabled() || q.full()) return false;
  const at = q.prodEntry();
  for (let i = 0; i < 4; i++) if (!s.vm.ram.write64(at + 8 * i, evt[2 * i]!, evt[2 * i + 1]!)) return false;
  q.prodIncr();
  if (!q.empty()) s.triggerIrq('evtq');
  return true;
}

/** smmuv3_propagate_event: an event the host reported for the guest (its StreamID already the guest's). */
export function smmuV3PropagateEvent(s: ArmSmmuV3Device, evt: Uint32Array): void {
  if (s.tp.event.enabled) s.tp.event.emit({ event: eventName(evt[0]! & 0xff), sid: evt[1]! });
  if (!smmuV3WriteEventq(s, evt)) s.triggerIrq('gerror', GERROR_EVTQ_ABT_ERR);
}
