// End to end: a QEMU-style virt VM with the accelerated arm-smmuv3 on the built-in host (SMMUv3 + VFIO + iommufd):
// the guest's arm-smmu-v3 driver maps, the passthrough DSA engine moves bytes through the host's nested walk of the
// guest's stage 1 and the nest parent, and every exit and host ioctl is counted.
import { type ArmSmmuV3Unit, dumpStream } from '@iommu-lab/hw-smmuv3';
import { type ArmSmmuV3Device, bootGuest, dmaChurn, QemuOptionError, runWorkload, total, VIRT_SMMU_BASE, Vm } from '@iommu-lab/viommu';
import { describe, expect, it } from 'vitest';
import { createHost, type LabHost } from './create-host.js';
import { churn, cost } from './__tests__/vm.js';

const VFIO = '-object iommufd,id=iommufd0 -device vfio-pci,host=0000:02:00.0,iommufd=iommufd0';
const ACCEL = (props = '') => `-m 2G -M virt -device arm-smmuv3,primary-bus=pcie.0,accel=on${props} ${VFIO}`;
/** The guest's StreamID of the device (slot 3 on the root bus) and the host's (02:00.0). */
const VSID = 0x18;
const HOST_SID = 0x200;

function start(args: string, flush: 'strict' | 'lazy', host: LabHost = createHost()) {
  const vm = new Vm(host, args);
  const g = bootGuest(vm, { flush });
  const unit = host.iommu.unit('smmu0') as ArmSmmuV3Unit;
  return { host, vm, g, unit, smmu: vm.viommu as ArmSmmuV3Device };
}



function refusal(args: string, host: LabHost = createHost()): string {
  try {
    new Vm(host, args).shutdown();
  } catch (e) {
    expect(e).toBeInstanceOf(QemuOptionError);
    return (e as QemuOptionError).message;
  }
  return 'accepted';
}

describe('accel=on: the guest stage 1 nested by the host SMMUv3 through a vIOMMU', () => {
  it("boots: vIOMMU on the nest parent, abort/bypass HWPTs, the guest STE installed as vDEVICE + nested HWPT", () => {
    const { vm, g, smmu, unit, host } = start(ACCEL(), 'strict');
    const d = smmu.accel!.devices.get(VSID)!;
    expect(d.vdevId).toBeGreaterThan(0);
    expect(d.s1Hwpt).toBeGreaterThan(0);
    expect(vm.devices[0]!.vfio.attachedPt).toBe(d.s1Hwpt);
    // Setup: the nest parent and three nested HWPTs (abort, bypass, the guest's stage 1); attached to the parent, bypass
    // (GBPA), abort (the guest's first STE step) and the stage 1; the guest's boot-time TLBI_NSNH_ALL and two CFGI_CD.
    expect(vm.stats.hostIoctls).toEqual({
      VFIO_DEVICE_BIND_IOMMUFD: 1,
      IOMMU_GET_HW_INFO: 1,
      IOMMU_IOAS_ALLOC: 1,
      IOMMU_HWPT_ALLOC: 4,
      VFIO_DEVICE_ATTACH_IOMMUFD_PT: 4,
      IOMMU_IOAS_MAP: 1,
      IOMMU_IOAS_IOVA_RANGES: 1,
      IOMMU_VIOMMU_ALLOC: 1,
      IOMMU_VDEVICE_ALLOC: 1,
      IOMMU_VEVENTQ_ALLOC: 1,
      IOMMU_HWPT_INVALIDATE: 3,
    });
    // The host's STE for 02:00.0 is nested (Config 0b111): the guest's CD table pointer, walked through stage 2.
    expect(dumpStream(unit.hw, host.mem, HOST_SID)).toMatch(/Config 7 \(nested\)/);
    expect(g.dump()).toMatch(/00:03.0 sid 0x18 STE @0x[0-9a-f]+: 0x[0-9a-f]+b /);
    expect(smmu.errors).toEqual([]);
  });

  it('dma-churn, strict: a map costs nothing, an unmap one CMDQ_PROD exit and one IOMMU_HWPT_INVALIDATE; every byte lands', () => {
    const { vm, g, unit } = start(ACCEL(), 'strict');
    const buf = g.alloc(4096);
    const misses = unit.hw.tlb.cache.stats.misses;
    for (let i = 0; i < 64; i++) {
      const c = churn(vm, g, buf, i);
      expect(c.filled).toBe(true);
      expect(total(c.map.vmExits) + total(c.map.hostIoctls)).toBe(0);
      expect(total(c.dmaOp.vmExits) + total(c.dmaOp.hostIoctls)).toBe(0);
      expect(c.unmap.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 1 });
      expect(c.unmap.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 1 });
      // A one-page range TLBI_NH_VA and its CMD_SYNC (completed by an MSI write into guest RAM: no CONS read)
      expect(c.unmap.guestInvalidations).toEqual({ TLBI_NH_VA: 1, CMD_SYNC: 1 });
    }
    expect([vm.stats.dmaOps, vm.stats.dataErrors, vm.stats.dmaFaults]).toEqual([64, 0, 0]);
    // Every fill found the previous translation invalidated and walked both stages again.
    expect(unit.hw.tlb.cache.stats.misses - misses).toBeGreaterThanOrEqual(64);
  });

  it('dma-churn, lazy: one exit and one TLBI_NH_ASID per flush-queue batch of 255 unmaps', () => {
    const { vm, g } = start(ACCEL(), 'lazy');
    const buf = g.alloc(4096);
    const c = cost(vm, () => {
      for (let i = 0; i < 600; i++) expect(churn(vm, g, buf, i).filled).toBe(true);
      g.flushQueue();
    });
    // 600 unmaps: the ring (255) fills at unmap 256 and 511, then the timer flushes the rest.
    expect(c.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 3 });
    expect(c.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 3 });
    expect(c.guestInvalidations).toEqual({ TLBI_NH_ASID: 3, CMD_SYNC: 3 });
    expect([vm.stats.dmaOps, vm.stats.dataErrors]).toEqual([600, 0]);
  });

  it('follows a domain replace: blocked (abort STE, old ASID flushed), then a new domain (CD rewritten, new nested HWPT)', () => {
    const { vm, g, host, smmu, unit } = start(ACCEL(), 'strict');
    const guest = g.smmu!;
    const m = guest.masters.get(VSID)!;
    const buf = g.alloc(4096);
    const old = g.dma().map(buf, 4096, 'from-device');
    const detach = cost(vm, () => guest.detachDevice(m));
    // Stage 1 -> abort: two CFGI_STE steps (abort attached at the first, then again), the old nested HWPT destroyed;
    // PREFETCH_CONFIG; the ASID nobody uses any more flushed with TLBI_NH_ASID.
    expect(detach.guestInvalidations).toEqual({ CFGI_STE: 2, PREFETCH_CONFIG: 1, TLBI_NH_ASID: 1, CMD_SYNC: 3 });
    expect(detach.hostIoctls).toEqual({ VFIO_DEVICE_ATTACH_IOMMUFD_PT: 2, IOMMU_DESTROY: 1, IOMMU_HWPT_INVALIDATE: 1 });
    expect(detach.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 4 });
    expect(vm.devices[0]!.vfio.attachedPt).toBe(smmu.accel!.abortHwpt);
    const pci = host.device('0000:02:00.0');
    expect(() => pci.dmaWrite(BigInt(old), Uint8Array.of(1))).toThrow();
    const d2 = guest.allocDomain();
    const attach = cost(vm, () => guest.attachDevice(m, d2));
    // CD 0 gets a new ASID and TTB0: a breaking update (V = 0, the rest, then dword 0), each step CFGI_CD + sync;
    // then abort -> stage 1 in two CFGI_STE steps: a new nested HWPT from the guest's STE.
    expect(attach.guestInvalidations).toEqual({ CFGI_CD: 3, CFGI_STE: 2, PREFETCH_CONFIG: 1, CMD_SYNC: 5 });
    expect(attach.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 3, VFIO_DEVICE_ATTACH_IOMMUFD_PT: 2, IOMMU_HWPT_ALLOC: 1 });
    // (The new HWPT may reuse the destroyed one's ID, as iommufd's xarray does.)
    expect(vm.devices[0]!.vfio.attachedPt).toBe(smmu.accel!.devices.get(VSID)!.s1Hwpt);
    expect(dumpStream(unit.hw, host.mem, HOST_SID)).toMatch(/V 1 ASID 0x2 T0SZ 16/);
    // The new domain maps the buffer at a fresh table; the device reaches it, and the old IOVA nowhere.
    d2.map(0x1_0000, buf / 4096, 1, 3);
    pci.dmaWrite(0x1_0000_000n, Uint8Array.of(7, 8));
    expect([...vm.ram.read(buf, 2)]).toEqual([7, 8]);
    expect(() => pci.dmaWrite(BigInt(old), Uint8Array.of(1))).toThrow();
    expect(smmu.errors).toEqual([]);
  });

  it('the host TLB is real: a page the guest unmaps without invalidating stays reachable until the TLBI', () => {
    const { vm, g, host } = start(ACCEL(), 'strict');
    const buf = g.alloc(4096);
    const dma = g.dma();
    const iova = dma.map(buf, 4096, 'from-device');
    const pci = host.device('0000:02:00.0');
    pci.dmaWrite(BigInt(iova), Uint8Array.of(1, 2, 3, 4)); // the walk is cached
    const d = g.smmu!.masters.get(VSID)!.domain!;
    expect(d.unmap(iova / 4096, 1)).toBe(1); // the table entry is gone, no TLBI yet
    pci.dmaWrite(BigInt(iova), Uint8Array.of(5, 6, 7, 8));
    expect([...vm.ram.read(buf, 4)]).toEqual([5, 6, 7, 8]);
    g.smmu!.tlb.flushRange(d, iova / 4096, iova / 4096, true);
    expect(() => pci.dmaWrite(BigInt(iova), Uint8Array.of(9))).toThrow();
    expect([...vm.ram.read(buf, 4)]).toEqual([5, 6, 7, 8]);
  });

  it('a DMA to an unmapped IOVA faults, writes nothing and reaches the guest event queue with the guest StreamID', () => {
    const { vm, g, unit, smmu } = start(ACCEL(), 'strict');
    const src = g.alloc(8192);
    const dst = g.alloc(8192);
    g.fillPattern(src, 8192, 42);
    const dma = g.dma();
    const s = dma.map(src + 0x100, 0x1e00, 'to-device');
    const d = dma.map(dst + 0x80, 0x1e00, 'from-device');
    expect(g.memmove(undefined, d, s, 0x1e00)).toBe(true);
    expect(vm.stats.dataErrors).toBe(0);
    dma.unmap(d, 0x1e00);
    const before = vm.ram.read(dst, 8192);
    const c = cost(vm, () => expect(g.memmove(undefined, d, s, 0x100)).toBe(false));
    expect(vm.ram.read(dst, 8192)).toEqual(before);
    expect(g.dmaFaults).toEqual([{ dev: 'vfio0', iova: BigInt(d), write: true }]);
    // The host recorded a stage-1 F_TRANSLATION for its own StreamID (the host model records the IOVA's page); the
    // vEVENTQ gave the VMM the record with the vSID.
    expect(unit.hw.lastFault()).toMatchObject({ reasonName: 'F_TRANSLATION', address: BigInt(d) & ~0xfffn });
    expect(smmu.accel!.veventq!.delivered).toBe(1);
    // The guest's event queue handler: F_TRANSLATION (0x10), guest SID 0x18, no SubstreamID, the IOVA, a write, stage 1
    expect(g.faults).toEqual([
      expect.objectContaining({ sid: VSID, pasid: -1, addr: BigInt(d) & ~0xfffn, reason: 0x10, reasonName: 'F_TRANSLATION', type: 'write', s2: false, class: 'IN' }),
    ]);
    expect(c.vmExits).toEqual({
      'irq:arm-smmuv3:eventq': 1,
      'mmio-read:arm-smmuv3:EVENTQ_PROD': 2,
      'mmio-write:arm-smmuv3:EVENTQ_CONS': 1,
    });
    expect(c.hostIoctls).toEqual({});
  });

  it('batches the commands of one submission: without RIL a 64 KiB unmap is 16 TLBI_NH_VA, one exit, one HWPT_INVALIDATE', () => {
    const { vm, g, smmu } = start(ACCEL(',ril=off'), 'strict');
    expect(g.smmu!.features.rangeInv).toBe(false);
    const buf = g.alloc(65536);
    const c = churn(vm, g, buf, 0, 65536);
    expect(c.filled).toBe(true);
    expect(c.unmap.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 1 });
    expect(c.unmap.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 1 });
    expect(c.unmap.guestInvalidations).toEqual({ TLBI_NH_VA: 16, CMD_SYNC: 1 });
    expect([vm.stats.dataErrors, smmu.errors.length]).toEqual([0, 0]);
  });

  it('a 2 MiB block over an emptied table frees the table and flushes the walk (non-leaf TLBI) in the map', () => {
    const { vm, g } = start(ACCEL(), 'strict');
    const pages511 = 511 * 4096;
    const small = g.alloc(pages511);
    const big = g.alloc(2 ** 21, 2 ** 21);
    g.fillPattern(big, 2 ** 21, 7);
    // 511 pages stay mapped at 0xffe00000, just below the completion record's page; 511 more in 4 KiB leaves at
    // 0xffc00000: DMA through them (the host caches the walk), unmap them: their level-3 table is empty but linked.
    expect(g.dma().map(g.alloc(pages511), pages511, 'to-device')).toBe(0xffe0_0000);
    const step = churn(vm, g, small, 0, pages511);
    expect(step.filled).toBe(true);
    expect(step.iova).toBe(0xffc0_0000);
    let iova = 0;
    const map = cost(vm, () => (iova = g.dma().map(big, 2 ** 21, 'bidirectional')));
    expect(iova).toBe(0xffc0_0000);
    // The block replaced the level-3 table that held the page: TLBI_NH_VA of 512 pages (SCALE 9), non-leaf, and a sync.
    expect(map.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 1 });
    expect(map.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 1 });
    expect(map.guestInvalidations).toEqual({ TLBI_NH_VA: 1, CMD_SYNC: 1 });
    // The guest's table now has a level-2 block there: its row stops at L2 (0x...f45: block, AttrIndx 1, EL0, ISH, AF, nG).
    expect(g.dump()).toMatch(/0x00000000ffc00 \|\t0x[0-9a-f]{16}\t0x[0-9a-f]{16}\t0x[0-9a-f]{13}f45\n/);
    // The device reads through the block, not the freed table: every byte of the 2 MiB arrives.
    const dst = g.alloc(2 ** 21);
    const d = g.dma().map(dst, 2 ** 21, 'from-device');
    expect(g.memmove(undefined, d, iova + 0x1000, 2 ** 21 - 0x1000)).toBe(true);
    expect([vm.stats.dataErrors, vm.stats.dmaFaults]).toEqual([0, 0]);
  });

  it('with ats=on the ATC is invalidated too, in its own submission after the TLB: two exits, two HWPT_INVALIDATEs', () => {
    const { vm, g, unit, host } = start(ACCEL(',ats=on'), 'strict');
    expect(g.smmu!.masters.get(VSID)!.atsSupported).toBe(true);
    expect(dumpStream(unit.hw, host.mem, HOST_SID)).toMatch(/EATS 1/);
    const buf = g.alloc(4096);
    const c = churn(vm, g, buf, 0);
    expect(c.filled).toBe(true);
    expect(c.unmap.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 2 });
    expect(c.unmap.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 2 });
    expect(c.unmap.guestInvalidations).toEqual({ TLBI_NH_VA: 1, ATC_INV: 1, CMD_SYNC: 2 });
    expect(vm.stats.dataErrors).toBe(0);
  });

  it('a command the host refuses stops the guest queue there with CERROR_ILL; the guest skips it and goes on', () => {
    const { vm, g, smmu } = start(ACCEL(), 'strict');
    // The guest queues, as its driver would, TLBI_NH_VA (ASID 1) with dword 1 bit 4 set (RES0), then a CMD_SYNC
    // whose MSI goes to its own slot: the vSMMU forwards the TLBI, the host kernel answers EIO.
    const q = g.smmu!.cmdq.q;
    const bad = q.prod;
    const at = q.entry(bad);
    vm.ram.setU64(at, 0x12n | (1n << 48n));
    vm.ram.setU64(at + 8, 0x7000_0010n);
    const syncAt = q.entry(q.inc(bad, 1));
    vm.ram.setU64(syncAt, 0x0fc0_1046n);
    vm.ram.setU64(syncAt + 8, BigInt(syncAt));
    q.prod = q.inc(bad, 2);
    const c = cost(vm, () => vm.mmio.write(VIRT_SMMU_BASE + 0x98, 4, BigInt(q.prod)));
    expect(smmu.errors).toEqual(['IOMMU_HWPT_INVALIDATE failed: ret=EIO, total=1, done=0']);
    expect(g.smmu!.events.messages.slice(0, 2)).toEqual([
      'unexpected global error reported (0x00000001), this could be serious',
      `CMDQ error (cons 0x${(0x0100_0000 | bad).toString(16).padStart(8, '0')}): Illegal command`,
    ]);
    // The skipped command became a CMD_SYNC; the guest's own sync then completed by its MSI write.
    expect(vm.ram.u32(syncAt)).toBe(0);
    expect(c.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 1 });
    expect(c.vmExits).toMatchObject({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 1, 'irq:arm-smmuv3:gerror': 1, 'mmio-write:arm-smmuv3:GERRORN': 1 });
  });

  it("runs the workloads through runWorkload as 'nested', counting setup and workload apart", () => {
    const host = createHost();
    const r = runWorkload(host, ACCEL(), dmaChurn, { name: 'dma-churn', flush: 'strict', params: { iterations: 100, size: 4096 } });
    expect(r.mode).toBe('nested');
    expect(r.viommu).toBe('arm-smmuv3,primary-bus=pcie.0,accel=on');
    expect(r.stats.vmExits).toEqual({ 'mmio-write:arm-smmuv3:CMDQ_PROD': 100 });
    expect(r.stats.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 100 });
    expect([r.stats.dmaOps, r.stats.dataErrors, r.stats.dmaFaults]).toEqual([100, 0, 0]);
    expect(r.setupStats.hostIoctls.IOMMU_VIOMMU_ALLOC).toBe(1);
  });
});

describe('refusals, worded as QEMU words them', () => {
  it('an arm-smmuv3 without accel serves emulated devices only', () => {
    expect(refusal(`-m 2G -M virt -device arm-smmuv3,primary-bus=pcie.0 ${VFIO}`)).toMatch(
      /^qemu-system: -device vfio-pci,host=0000:02:00.0,iommufd=iommufd0: vfio 0000:02:00.0: device 00.03.0 requires iommu MAP notifier which is not currently supported \(an arm-smmuv3 without accel=on emulates stage 1 for emulated devices only/,
    );
  });

  it('accel needs the iommufd backend, an SMMUv3 host, and a host with what the guest is offered', () => {
    expect(refusal('-m 2G -M virt -device arm-smmuv3,primary-bus=pcie.0,accel=on -device vfio-pci,host=0000:02:00.0')).toMatch(
      /vfio-pci endpoint devices without an iommufd backend not allowed when using arm-smmuv3,accel=on/,
    );
    expect(refusal('-m 2G -M virt -device arm-smmuv3,primary-bus=pcie.0,accel=on -object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0')).toMatch(
      /vfio 0000:01:00.0: Wrong data type \(1\) for Host SMMUv3 device info \(0000:01:00.0 is not behind an Arm SMMUv3/,
    );
    const noRil = () =>
      createHost({ memory: '4G', iommus: [{ id: 'smmu0', model: 'arm-smmuv3', ril: false }], devices: [{ bdf: '0000:02:00.0', iommu: 'smmu0', pasidBits: 20 }] });
    expect(refusal(ACCEL(), noRil())).toMatch(/Host SMMUv3 doesn't support Range Invalidation \(host IDR3.RIL = 0 but the guest is offered range TLBIs: use ril=off\)$/);
    expect(refusal(ACCEL(',ril=off'), noRil())).toBe('accepted');
    expect(refusal(ACCEL(',ats=on'), createHost({ memory: '4G', iommus: [{ id: 'smmu0', model: 'arm-smmuv3' }], devices: [{ bdf: '0000:02:00.0', iommu: 'smmu0' }] }))).toMatch(
      /0000:02:00.0 has no ATS \(ats=on offers the guest ATS for a device without it\)$/,
    );
    expect(refusal(`-m 2G -M q35 -device arm-smmuv3,primary-bus=pcie.0,accel=on ${VFIO}`)).toMatch(/arm-smmuv3 is only supported by the virt machine$/);
  });

  it('a refused VM leaves nothing behind: the device can be used by the next one', () => {
    const host = createHost();
    expect(refusal(`-m 2G -M virt -device arm-smmuv3,primary-bus=pcie.0 ${VFIO}`, host)).not.toBe('accepted');
    const { vm, g } = start(ACCEL(), 'strict', host);
    const buf = g.alloc(4096);
    expect(churn(vm, g, buf, 0).filled).toBe(true);
    expect(vm.stats.dataErrors).toBe(0);
  });
});
