// End to end: vSVA on the accelerated arm-smmuv3. Guest AArch64 processes at SubstreamIDs of the guest's own CD table
// (CFGI_CD forwarded to the host through the vIOMMU), recoverable faults through PRI: ATS miss -> host PRI queue ->
// iommufd fault queue -> the guest's PRI queue -> handle_mm_fault -> CMD_PRI_RESP -> iommu_hwpt_page_response -> PRG response.
import { type ArmSmmuV3Unit, Cd, NestedDomain } from '@iommu-lab/hw-smmuv3';
import { IOMMU_NO_PASID } from '@iommu-lab/iommu-core';
import { type ArmSmmuV3Device, bootGuest, GuestSvmError, runWorkload, sva, Vm, WorkloadError } from '@iommu-lab/viommu';
import { describe, expect, it } from 'vitest';
import { runCli } from './__tests__/helpers.js';
import { createHost, type LabHost } from './create-host.js';
import { cost } from './__tests__/vm.js';

const HOST_BDF = '0000:02:00.0';
const VFIO = `-object iommufd,id=iommufd0 -device vfio-pci,host=${HOST_BDF},iommufd=iommufd0`;
const PROPS = 'accel=on,ats=on,pri=on,ssidsize=20,oas=48';
const qemu = (props = PROPS) => `-m 2G -M virt -device arm-smmuv3,primary-bus=pcie.0,${props} ${VFIO}`;
/** The device's StreamID in the guest (slot 3) and on the host (02:00.0). */
const VSID = 0x18;
const HOST_SID = 0x200;
/** CMD_PRI_RESP Resp: 2 success, 1 fail (Invalid Request). */
const RESP_SUCC = 2;
const RESP_FAIL = 1;

function start(props = PROPS, host: LabHost = createHost()) {
  const vm = new Vm(host, qemu(props));
  const g = bootGuest(vm, { flush: 'strict' });
  const unit = host.iommu.unit('smmu0') as ArmSmmuV3Unit;
  return { host, vm, g, sva: g.armSva!, unit, smmu: vm.viommu as ArmSmmuV3Device, pci: host.device(HOST_BDF) };
}


/** The CD the guest wrote for a SubstreamID of its master. */
function guestCd(g: ReturnType<typeof start>['g'], ssid: number) {
  const m = g.smmu!.masters.get(VSID)!;
  const at = m.cdTable.cdPtr(ssid, false);
  return Cd.decode(Array.from({ length: 8 }, (_, i) => g.vm.ram.u64(at + 8 * i)));
}

describe('vSVA on SMMUv3: boot with PRI', () => {
  it('the guest gets a PRI queue; the vIOMMU a fault queue; the guest stage 1 a nested HWPT that takes faults; the host device PRI', () => {
    const { g, smmu, host, pci, vm } = start();
    expect(g.smmu!.features.pri).toBe(true);
    // QEMU's unit has no IDR0.CD2L: a linear CD table, whose 1024 CDs cap the master at 10 SubstreamID bits.
    expect(g.smmu!.masters.get(VSID)).toMatchObject({ ssidBits: 10, priSupported: true, prgRespNeedsSsid: true });
    expect(smmu.pri!.faultId).toBeGreaterThan(0);
    const rid = host.iommu.findDevice(HOST_BDF)!.group.pasids.get(IOMMU_NO_PASID)!.domain;
    expect(rid).toBeInstanceOf(NestedDomain);
    expect(rid.iopfHandler).toBeDefined();
    // The nested attach with a fault handler and the guest's EATS turned PRI on at the device (arm_smmu_enable_pri).
    expect(pci.priEnabled).toBe(true);
    expect(g.armSva!.unmet()).toBeNull();
    expect(smmu.errors).toEqual([]);
    // What PRI adds to the boot of the same machine without it: the guest's PRIQ registers and one fault queue.
    const off = start('accel=on,ats=on,ssidsize=20,oas=48');
    const d = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(a).filter((k) => a[k] !== b[k]).map((k) => [k, a[k]! - (b[k] ?? 0)]));
    expect(d(vm.stats.hostIoctls, off.vm.stats.hostIoctls)).toEqual({ IOMMU_FAULT_QUEUE_ALLOC: 1 });
    expect(d(vm.stats.vmExits, off.vm.stats.vmExits)).toEqual({
      'mmio-write:arm-smmuv3:PRIQ_BASE': 1,
      'mmio-write:arm-smmuv3:PRIQ_PROD': 1,
      'mmio-write:arm-smmuv3:PRIQ_CONS': 1,
      'mmio-write:arm-smmuv3:PRIQ_IRQ_CFG0': 1,
      'mmio-write:arm-smmuv3:CR0': 1,
      'mmio-read:arm-smmuv3:CR0ACK': 1,
    });
    expect(off.pci.priEnabled).toBe(false);
    expect(off.smmu.pri).toBeNull();
  });
});

describe('vSVA on SMMUv3: binding guest processes to SubstreamIDs', () => {
  it('a bind: the process CD in the guest CD table (two CFGI_CD steps), the ATC of the SSID; three exits, three HWPT_INVALIDATEs', () => {
    const { vm, g, sva: s, smmu } = start();
    const a = s.spawn();
    const b = s.spawn();
    let pasid = 0;
    const c = cost(vm, () => (pasid = s.bind('vfio0', a)));
    expect(pasid).toBe(1);
    expect(c.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 3 });
    expect(c.guestInvalidations).toEqual({ CFGI_CD: 2, ATC_INV: 1, CMD_SYNC: 3 });
    expect(c.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 3 });
    expect(s.bind('vfio0', b)).toBe(2);
    // Each process has its own SVA domain and ASID (the DMA domain has ASID 1); its CD points at its TTBR0.
    const [da, db] = [s.domains.get(a)!, s.domains.get(b)!];
    expect([da.asid, db.asid]).toEqual([2, 3]);
    expect(guestCd(g, 1)).toMatchObject({ v: 1, aa64: 1, t0sz: 16, tg0: 0, epd1: 1, r: 1, a: 1, ips: 5, asid: 2, ttb0: BigInt(a.ttbr0), mair: 0x0000_0004_0044_f0ffn });
    expect(guestCd(g, 2)).toMatchObject({ v: 1, asid: 3, ttb0: BigInt(b.ttbr0) });
    expect(smmu.errors).toEqual([]);
  });

  it('a page fault round trip: the guest sees its StreamID and SSID in its PRI queue, faults the page in and answers; every byte lands', () => {
    const { vm, g, sva: s, unit, smmu, pci } = start();
    const mm = s.spawn();
    const va = mm.mmap(4 * 4096);
    s.bind('vfio0', mm);
    const hostEvents = unit.hw.evtqStats.written;
    let status = 0;
    const c = cost(vm, () => (status = s.memfill('vfio0', mm, va, 4 * 4096, 0x1122_3344_5566_7788n).status));
    expect(status).toBe(1);
    expect([c.dataErrors, c.dmaFaults]).toEqual([0, 0]);
    // Four pages, four round trips; each: the PRIQ interrupt, the thread's PROD reads and CONS write, one CMD_PRI_RESP.
    expect(c.vmExits).toEqual({
      'irq:arm-smmuv3:priq': 4,
      'mmio-read:arm-smmuv3:PRIQ_PROD': 8,
      'mmio-write:arm-smmuv3:PRIQ_CONS': 4,
      'mmio-write:arm-smmuv3:CMDQ_PROD': 4,
    });
    expect(c.guestInvalidations).toEqual({ PRI_RESP: 4 });
    expect(c.hostIoctls).toEqual({});
    expect([pci.pageRequests, pci.pageResponses]).toEqual([4, 4]);
    expect(smmu.pri!.stats).toMatchObject({ read: 4, queued: 4, responses: 4, answered: 0, lost: 0 });
    // The guest: its StreamID 0x18, the SSID, the process's addresses; answered success.
    const pages = [0, 1, 2, 3].map((i) => BigInt(va + i * 4096));
    expect(g.smmu!.priq!.log.map((r) => [r.sid, r.ssid, r.addr, r.write, r.last, r.response])).toEqual(pages.map((p) => [VSID, mm.pasid, p, true, true, RESP_SUCC]));
    expect(s.faults).toEqual(pages.map((addr) => ({ dev: 'vfio0', sid: VSID, pasid: mm.pasid, pid: mm.pid, addr, write: true, result: 'ok' })));
    // The host: its own StreamID, reported to the core; no event recorded for the ATS misses.
    expect(unit.ops.smmu.priq!.log.slice(-4).map((r) => [r.sid, r.ssid, r.outcome])).toEqual(Array(4).fill([HOST_SID, mm.pasid, 'reported']));
    expect(unit.hw.evtqStats.written).toBe(hostEvents);
    expect(g.faults).toEqual([]);
    // Present now: the next fill takes no fault and no exit.
    const again = cost(vm, () => s.memfill('vfio0', mm, va, 4 * 4096, 7n));
    expect(again.vmExits).toEqual({});
    expect(again.dataErrors).toBe(0);
  });

  it('a page outside every VMA: the guest answers Invalid Request, the device reports PAGE_FAULT_IR and writes nothing', () => {
    const { g, sva: s } = start();
    const mm = s.spawn();
    const va = mm.mmap(4096);
    s.bind('vfio0', mm);
    const r = s.memfill('vfio0', mm, va + 4096, 64, 1n);
    expect(r).toMatchObject({ status: 0x04, write: true, faultAddr: BigInt(va + 4096) });
    expect(s.faults.at(-1)).toMatchObject({ addr: BigInt(va + 4096), result: 'segv' });
    expect(g.smmu!.priq!.log.at(-1)).toMatchObject({ sid: VSID, ssid: mm.pasid, response: RESP_FAIL });
    expect(mm.present(va / 4096 + 1)).toBe(-1);
  });

  it('a munmap flushes the process: TLBI_NH_VA and ATC_INV of the SSID, two exits and two HWPT_INVALIDATEs; the pages come back by PRI', () => {
    const { vm, sva: s } = start();
    const mm = s.spawn();
    const va = mm.mmap(8192);
    s.bind('vfio0', mm);
    s.memfill('vfio0', mm, va, 8192, 3n);
    const c = cost(vm, () => s.munmap(mm, va, 8192));
    expect(c.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 2 });
    expect(c.guestInvalidations).toEqual({ TLBI_NH_VA: 1, ATC_INV: 1, CMD_SYNC: 2 });
    expect(c.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 2 });
    const refill = cost(vm, () => expect(s.memfill('vfio0', mm, va, 8192, 4n).status).toBe(1));
    expect(refill.vmExits['irq:arm-smmuv3:priq']).toBe(2);
    expect(vm.stats.dataErrors).toBe(0);
  });

  it('unbind stops DMA: CD cleared, CFGI_CD, ATC_INV, TLBI_NH_ASID; the next DMA faults, writes nothing, and the guest sees C_BAD_CD with its IDs', () => {
    const { vm, g, sva: s, unit } = start();
    const mm = s.spawn();
    const va = mm.mmap(4096);
    s.bind('vfio0', mm);
    expect(s.memfill('vfio0', mm, va, 4096, 0x77n).status).toBe(1);
    const pasid = mm.pasid;
    const asid = s.domains.get(mm)!.asid;
    const c = cost(vm, () => s.unbind('vfio0', mm));
    expect(c.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 4 });
    expect(c.guestInvalidations).toEqual({ CFGI_CD: 2, ATC_INV: 1, TLBI_NH_ASID: 1, CMD_SYNC: 4 });
    // Nothing to detach on the host: the guest owns the CD table.
    expect(c.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 4 });
    expect(guestCd(g, pasid).v).toBe(0);
    expect(s.domains.has(mm)).toBe(false);
    expect(g.smmu!.allocAsid()).toBe(asid);
    const before = mm.read(va, 16);
    expect(s.memfill('vfio0', mm, va, 4096, 0x99n).status).not.toBe(1);
    expect(mm.read(va, 16)).toEqual(before);
    // The host recorded C_BAD_CD for its StreamID and sent it up the vEVENTQ; the VMM's main loop puts it in the
    // guest's event queue with the guest's StreamID and the SSID.
    vm.mainLoop();
    expect(g.faults.map((e) => [e.reasonName, e.sid, e.pasid])).toContainEqual(['C_BAD_CD', VSID, pasid]);
    expect(unit.ops.smmu.log.every((l) => !l.includes('C_BAD_CD'))).toBe(true);
    expect(vm.stats.dataErrors).toBe(0);
  });

  it('refusals: pri without ats; SVA with a 44-bit OAS; the sva workload without pri=on', () => {
    const host = createHost();
    expect(() => new Vm(host, qemu('accel=on,pri=on,ssidsize=20'))).toThrow(/pri can only be enabled if ats=on/);
    const narrow = start('accel=on,ats=on,pri=on,ssidsize=20');
    const mm = narrow.sva.spawn();
    expect(() => narrow.sva.bind('vfio0', mm)).toThrow(GuestSvmError);
    expect(() => narrow.sva.bind('vfio0', mm)).toThrow(/EOPNOTSUPP.*OAS \(44 bits\)/);
    // The PASID it was given goes back when the bind fails.
    expect(mm.pasid).toBe(-1);
    expect(() => runWorkload(createHost(), qemu('accel=on,ats=on,ssidsize=20,oas=48'), sva, { name: 'sva', flush: 'strict', params: { ...sva.defaults, iterations: 1 } })).toThrow(WorkloadError);
  });
});

describe('the sva workload on SMMUv3', () => {
  it('every byte checked, faults through PRI, the end-of-run unbind check; counts by hand', () => {
    const r = runWorkload(createHost(), qemu(), sva, { name: 'sva', flush: 'strict', params: { iterations: 20, size: 16384, processes: 2, faultEvery: 5 } });
    expect(r.mode).toBe('nested');
    expect(r.stats.dataErrors).toBe(0);
    // 2 processes x 20 fills, plus one check DMA each after unbinding (which faults).
    expect([r.stats.dmaOps, r.stats.dmaFaults]).toEqual([42, 2]);
    // 4 pages at the start and after each of 3 reclaims, per process: 32 round trips.
    expect(r.stats.vmExits['irq:arm-smmuv3:priq']).toBe(32);
    // CMDQ_PROD: 2 binds x 3, 6 reclaims x 2, 32 responses, 2 unbinds x 4.
    expect(r.stats.vmExits['mmio-write:arm-smmuv3:CMDQ_PROD']).toBe(6 + 12 + 32 + 8);
    expect(r.stats.guestInvalidations).toEqual({ CFGI_CD: 8, ATC_INV: 10, TLBI_NH_VA: 6, TLBI_NH_ASID: 2, PRI_RESP: 32, CMD_SYNC: 26 });
    // Everything but the responses is forwarded one CMD_SYNC batch per HWPT_INVALIDATE; nothing is allocated or attached.
    expect(r.stats.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 26 });
  });

  it('iommu-lab run --workload sva on both vendors', async () => {
    const args = (q: string) => q.split(' ');
    const arm = JSON.parse((await runCli('run', ...args(qemu()), '--workload', 'sva,iterations=4,processes=1,faultEvery=2', '--json')).out);
    expect(arm).toMatchObject({ mode: 'nested', workload: { name: 'sva' }, stats: { dmaOps: 5, dmaFaults: 1, dataErrors: 0 } });
    expect(arm.stats.vmExits['irq:arm-smmuv3:priq']).toBe(8);
    const vtd = `-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on,aw-bits=48,x-pasid-mode=on,device-iotlb=on,svm=on -object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0`;
    const intel = JSON.parse((await runCli('run', ...args(vtd), '--workload', 'sva,iterations=4,processes=1,faultEvery=2', '--json')).out);
    expect(intel).toMatchObject({ mode: 'nested', stats: { dmaOps: 5, dmaFaults: 1, dataErrors: 0 } });
    expect(intel.stats.vmExits['irq:msi:0x41']).toBe(8);
  });
});
