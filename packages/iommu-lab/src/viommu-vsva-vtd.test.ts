// End to end: vSVA on VT-d. Guest processes bound to PASIDs of a passthrough DSA-like device: PASIDs from the VMM
// through virtual commands, the process's CR3 bound on the host as a nested HWPT at that PASID, recoverable faults
// through PRI -> host page request queue -> iommufd fault queue -> the guest's page request queue and back.
import { NestedDomain, type VtdUnit } from '@iommu-lab/hw-vtd';
import { bootGuest, GuestSvmError, type IntelIommuDevice, runWorkload, sva, vmmPasidAllocator, Vm } from '@iommu-lab/viommu';
import { describe, expect, it } from 'vitest';
import { createHost, type LabHost } from './create-host.js';
import { cost } from './__tests__/vm.js';

const SVM = 'x-scalable-mode=on,x-flts=on,caching-mode=on,aw-bits=48,x-pasid-mode=on,device-iotlb=on,svm=on';
const VFIO = '-object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0';
const qemu = (props = '') => `-m 2G -M q35 -device intel-iommu,${SVM}${props} ${VFIO}`;
const HOST_BDF = '0000:01:00.0';
/** The device's RID on the host (01:00.0) and in the guest (00:03.0). */
const HOST_RID = 0x100;
const GUEST_RID = 0x18;

function start(props = '', host: LabHost = createHost()) {
  const vm = new Vm(host, qemu(props));
  const g = bootGuest(vm, { flush: 'strict' });
  const unit = host.iommu.unit('dmar0') as VtdUnit;
  return { host, vm, g, sva: g.sva!, unit, vtd: vm.viommu as IntelIommuDevice, pci: host.device(HOST_BDF) };
}


/** The domain the host has at (device, PASID). */
function hostDomain(host: LabHost, pasid: number) {
  return host.iommu.findDevice(HOST_BDF)!.group.pasids.get(pasid)?.domain;
}

describe('vSVA on VT-d: binding guest processes to device PASIDs', () => {
  it('boots with the enlightened PASID allocator and the guest page request queue', () => {
    const { g, sva, vtd, vm } = start();
    expect(sva.enlightened).toBe(true);
    expect(sva.prq).not.toBeNull();
    expect(g.iommu!.devices.get(GUEST_RID)).toMatchObject({ ats: true, pri: true, pasid: true });
    expect(vtd.s.errors).toEqual([]);
    // The RID's nested HWPT allows PASIDs beside it (IOMMU_HWPT_ALLOC_PASID): a PASID attach would fail otherwise.
    expect(vm.devices[0]!.vfio.attachedPt).toBe(vtd.addressSpace(GUEST_RID)!.fsHwptId);
  });

  it('a bind: VCMD for the PASID, PASID-cache + P_IOTLB exits; on the host a nested VTD_S1 HWPT rooted at the CR3, with the fault queue', () => {
    const { vm, sva, host, vtd } = start();
    const a = sva.spawn();
    const b = sva.spawn();
    let pasid = 0;
    const first = cost(vm, () => (pasid = sva.bind('vfio0', a)));
    expect(pasid).toBe(1);
    expect(first.vmExits).toEqual({ 'mmio-write:intel-iommu:VCMD_REG': 1, 'mmio-read:intel-iommu:VCRSP_REG': 1, 'mmio-write:intel-iommu:IQT_REG': 2 });
    expect(first.guestInvalidations).toEqual({ pc: 1, piotlb: 1, wait: 2 });
    // The PASID-cache invalidation binds (fault queue on first use, HWPT, PASID attach); the P_IOTLB is forwarded.
    expect(first.hostIoctls).toEqual({ IOMMU_FAULT_QUEUE_ALLOC: 1, IOMMU_HWPT_ALLOC: 1, VFIO_DEVICE_ATTACH_IOMMUFD_PT: 1, IOMMU_HWPT_INVALIDATE: 1 });
    const second = cost(vm, () => sva.bind('vfio0', b));
    expect(second.hostIoctls).toEqual({ IOMMU_HWPT_ALLOC: 1, VFIO_DEVICE_ATTACH_IOMMUFD_PT: 1, IOMMU_HWPT_INVALIDATE: 1 });
    expect(b.pasid).toBe(2);
    // Host side: each PASID carries a nested domain whose stage 1 is the guest process's page table (a GPA), 48-bit, no SRE.
    for (const mm of [a, b]) {
      const d = hostDomain(host, mm.pasid);
      expect(d).toBeInstanceOf(NestedDomain);
      expect((d as NestedDomain).s1).toEqual({ flags: 0n, pgtblAddr: BigInt(mm.cr3), addrWidth: 48 });
      expect(d!.iopfHandler).toBeDefined();
    }
    expect(vtd.svm!.sva.binds.size).toBe(2);
    expect(vtd.s.errors).toEqual([]);
  });

  it('a page fault round trip: PRI on the host, the guest faults the page into the process and answers; every byte lands', () => {
    const { vm, g, sva, unit, vtd, pci } = start();
    const mm = sva.spawn();
    const va = mm.mmap(4 * 4096);
    sva.bind('vfio0', mm);
    const hostFaults = unit.faults.log.length;
    let status = 0;
    const c = cost(vm, () => (status = sva.memfill('vfio0', mm, va, 4 * 4096, 0x1122_3344_5566_7788n).status));
    expect(status).toBe(1);
    expect(c.dataErrors).toBe(0);
    expect(c.dmaFaults).toBe(0);
    // Four pages, four round trips; each: the PRQ interrupt, prq_event_thread's PRS/PQT/PQH accesses, one page response.
    expect(c.vmExits).toEqual({
      'irq:msi:0x41': 4,
      'mmio-write:intel-iommu:PRS_REG': 4,
      'mmio-read:intel-iommu:PQT_REG': 4,
      'mmio-read:intel-iommu:PQH_REG': 4,
      'mmio-write:intel-iommu:PQH_REG': 4,
      'mmio-read:intel-iommu:PRS_REG': 4,
      'mmio-write:intel-iommu:IQT_REG': 4,
    });
    expect(c.hostIoctls).toEqual({});
    expect(c.guestInvalidations).toEqual({ 'pgrp-resp': 4, wait: 4 });
    expect([pci.pageRequests, pci.pageResponses]).toEqual([4, 4]);
    expect([vtd.svm!.pageFaults.read, vtd.svm!.pageFaults.responses]).toEqual([4, 4]);
    // The guest saw its own IDs: its RID 00:03.0, the PASID, the process's virtual addresses.
    expect(sva.faults).toEqual([0, 1, 2, 3].map((i) => ({ dev: 'vfio0', sid: GUEST_RID, pasid: mm.pasid, pid: mm.pid, addr: BigInt(va + i * 4096), write: true, result: 'ok' })));
    expect(sva.prq!.log.map((r) => [r.sid, r.pasid, r.addr, r.response])).toEqual([0, 1, 2, 3].map((i) => [GUEST_RID, mm.pasid, BigInt(va + i * 4096), 0]));
    // The host saw the host RID; nothing was recorded as a DMA-remapping fault on either side.
    expect(unit.iommu.prq!.log.slice(-4).map((r) => [r.rid, r.pasid, r.outcome])).toEqual(Array(4).fill([HOST_RID, mm.pasid, 'reported']));
    expect(unit.faults.log.length).toBe(hostFaults);
    expect(g.faults).toEqual([]);
    // Present now: the next fill takes no fault and no exit.
    const again = cost(vm, () => sva.memfill('vfio0', mm, va, 4 * 4096, 7n));
    expect(again.vmExits).toEqual({});
    expect(again.dataErrors).toBe(0);
  });

  it('a page outside every VMA: the guest answers Invalid Request, the device reports PAGE_FAULT_IR and writes nothing', () => {
    const { sva } = start();
    const mm = sva.spawn();
    const va = mm.mmap(4096);
    sva.bind('vfio0', mm);
    // The page after the mapping is the guard page.
    const r = sva.memfill('vfio0', mm, va + 4096, 64, 1n);
    expect(r).toMatchObject({ status: 0x04, write: true, faultAddr: BigInt(va + 4096) });
    expect(sva.faults.at(-1)).toMatchObject({ addr: BigInt(va + 4096), result: 'segv' });
    expect(mm.present(va / 4096 + 1)).toBe(-1);
  });

  it('a munmap flushes the PASID: one IQT exit, forwarded as one IOMMU_HWPT_INVALIDATE on its HWPT; the pages come back by PRI', () => {
    const { vm, sva } = start();
    const mm = sva.spawn();
    const va = mm.mmap(8192);
    sva.bind('vfio0', mm);
    sva.memfill('vfio0', mm, va, 8192, 3n);
    const c = cost(vm, () => sva.munmap(mm, va, 8192));
    expect(c.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 1 });
    expect(c.guestInvalidations).toEqual({ piotlb: 1, 'pasid-dev-tlb': 1, wait: 1 });
    expect(c.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 1 });
    const refill = cost(vm, () => expect(sva.memfill('vfio0', mm, va, 8192, 4n).status).toBe(1));
    expect(refill.vmExits['irq:msi:0x41']).toBe(2);
    expect(vm.stats.dataErrors).toBe(0);
  });

  it('unbind stops DMA: the PASID is detached on the host, the next DMA faults and writes nothing', () => {
    const { vm, sva, unit, host } = start();
    const mm = sva.spawn();
    const va = mm.mmap(4096);
    sva.bind('vfio0', mm);
    expect(sva.memfill('vfio0', mm, va, 4096, 0x77n).status).toBe(1);
    const pasid = mm.pasid;
    const c = cost(vm, () => sva.unbind('vfio0', mm));
    expect(c.hostIoctls).toEqual({ VFIO_DEVICE_DETACH_IOMMUFD_PT: 1, IOMMU_DESTROY: 1 });
    // Tear-down: PASID-cache, P_IOTLB, device-TLB, then the drain (fenced wait, P_IOTLB, device-TLB, wait with PD).
    expect(c.guestInvalidations).toEqual({ pc: 1, piotlb: 2, 'pasid-dev-tlb': 2, wait: 5 });
    expect(hostDomain(host, pasid)).toBeUndefined();
    const before = mm.read(va, 16);
    const r = sva.memfill('vfio0', mm, va, 4096, 0x99n);
    expect(r.status).not.toBe(1);
    expect(mm.read(va, 16)).toEqual(before);
    // The host recorded it: PASID entry not present (0x59), with the PASID the process still holds.
    expect(unit.faults.log.at(-1)).toMatchObject({ reason: 0x59, sid: HOST_RID, pasid });
    expect(vm.stats.dataErrors).toBe(0);
  });

  it('enforces the PASID quota (x-pasid-quota) and frees PASIDs on process exit and on VM shutdown', () => {
    const { vm, sva, vtd, host } = start(',x-pasid-quota=2');
    const [a, b, c] = [sva.spawn(), sva.spawn(), sva.spawn()];
    sva.bind('vfio0', a);
    sva.bind('vfio0', b);
    expect(() => sva.bind('vfio0', c)).toThrow(GuestSvmError);
    expect(() => sva.bind('vfio0', c)).toThrow(/ENOSPC/);
    expect(sva.vcmd.errors).toContain('No PASID available');
    expect(vtd.svm!.pasids.held).toBe(2);
    // A process exits: its PASID goes back through VCMD; another process can have it.
    const freed = cost(vm, () => sva.exit(a));
    expect(freed.vmExits['mmio-write:intel-iommu:VCMD_REG']).toBe(1);
    expect(vtd.svm!.pasids.held).toBe(1);
    expect(sva.bind('vfio0', c)).toBe(1);
    const ioasid = vmmPasidAllocator(host);
    expect(ioasid.findSet(vm)).toBeDefined();
    vm.shutdown();
    expect(ioasid.findSet(vm)).toBeUndefined();
    expect(ioasid.size).toBe(0);
  });

  it('a guest cannot bind a PASID it was not given: the VMM refuses, the host has nothing there, its DMA faults', () => {
    const { g, sva, vtd, host } = start();
    const mm = sva.spawn();
    mm.mmap(4096);
    const info = g.iommu!.devices.get(GUEST_RID)!;
    // Around the allocator: the guest writes a PASID entry for PASID 0x77 by itself.
    sva.svm.setDevPasid(info, 0x77, mm.cr3);
    expect(vtd.s.errors.at(-1)).toBe('Attaching PASID HWPT failed: PASID 119 was not allocated to this VM');
    expect(hostDomain(host, 0x77)).toBeUndefined();
    mm.pasid = 0x77;
    expect(sva.memfill('vfio0', mm, mm.vmas[0]!.startPfn * 4096, 64, 5n).status).not.toBe(1);
  });

  it('the sva workload: every byte checked, faults through PRI, the end-of-run unbind check', () => {
    const r = runWorkload(createHost(), qemu(), sva, { name: 'sva', flush: 'strict', params: { iterations: 20, size: 16384, processes: 2, faultEvery: 5 } });
    expect(r.mode).toBe('nested');
    expect(r.stats.dataErrors).toBe(0);
    // 2 processes x 20 fills, plus one check DMA each after unbinding (which faults).
    expect(r.stats.dmaOps).toBe(42);
    expect(r.stats.dmaFaults).toBe(2);
    // 4 pages at the start and after each of 3 reclaims, per process: 32 round trips.
    expect(r.stats.vmExits['irq:msi:0x41']).toBe(32);
    expect(r.stats.guestInvalidations['pgrp-resp']).toBe(32);
    // Binds (fault queue once, 2 HWPTs, 2 attaches), 2 forwarded bind flushes + 6 reclaim flushes, 2 unbinds.
    expect(r.stats.hostIoctls).toEqual({
      IOMMU_FAULT_QUEUE_ALLOC: 1,
      IOMMU_HWPT_ALLOC: 2,
      VFIO_DEVICE_ATTACH_IOMMUFD_PT: 2,
      IOMMU_HWPT_INVALIDATE: 8,
      VFIO_DEVICE_DETACH_IOMMUFD_PT: 2,
      IOMMU_DESTROY: 2,
    });
    // PASIDs: 2 allocated and 2 freed through VCMD.
    expect(r.stats.vmExits['mmio-write:intel-iommu:VCMD_REG']).toBe(4);
  });
});

