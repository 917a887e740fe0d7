// End to end: a QEMU-style VM with the emulated intel-iommu on the built-in host (VT-d + VFIO + iommufd); the guest's
// driver maps, the passthrough DSA engine moves bytes through real walks, and every exit and ioctl is counted.
import { deviceTranslationStruct, type VtdUnit } from '@iommu-lab/hw-vtd';
import { bootGuest, type Guest, GuestDmaApi, type IntelIommuDevice, QemuOptionError, total, Vm } from '@iommu-lab/viommu';
import { DmaFault } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { createHost, type LabHost } from './create-host.js';
import { churn, cost } from './__tests__/vm.js';

const VFIO = '-object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0';
const NESTED = `-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on,aw-bits=48,fs1gp=on ${VFIO}`;
// The default host's auto domain is first stage (47-bit aperture): a shadowing guest must fit in 39 bits.
const SHADOW = `-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,caching-mode=on,aw-bits=39 ${VFIO}`;

function start(args: string, flush: 'strict' | 'lazy', host: LabHost = createHost()) {
  const vm = new Vm(host, args);
  const g = bootGuest(vm, { flush });
  const unit = host.iommu.unit('dmar0') as VtdUnit;
  return { host, vm, g, unit };
}



describe('nested mode (x-flts=on): the guest first stage bound to the host as a nested HWPT', () => {
  it('binds the guest RID_PASID entry when translation is enabled: a VTD_S1 HWPT over the nest parent', () => {
    const { vm, g, unit, host } = start(NESTED, 'strict');
    const as = (vm.viommu as IntelIommuDevice).addressSpace(0x18)!;
    expect(as.pcValid).toBe(true);
    expect(as.fsHwptId).toBeGreaterThan(0);
    expect(vm.devices[0]!.vfio.attachedPt).toBe(as.fsHwptId);
    // Boot: the nest parent and the nested HWPT, attached in turn; guest RAM mapped once; the fault extension's
    // vIOMMU, vDEVICE (virt_id = the guest RID) and vEVENTQ.
    expect(vm.stats.hostIoctls).toMatchObject({ IOMMU_HWPT_ALLOC: 2, VFIO_DEVICE_ATTACH_IOMMUFD_PT: 2, IOMMU_IOAS_MAP: 1, IOMMU_VIOMMU_ALLOC: 1, IOMMU_VDEVICE_ALLOC: 1, IOMMU_VEVENTQ_ALLOC: 1 });
    // The host walks the guest's table: its dump shows both stages, stage 1 rooted at the guest's FSPTPTR.
    const dev = host.iommu.findDevice('0000:01:00.0')!;
    const dump = deviceTranslationStruct(unit, dev);
    expect(dump).toMatch(/nested stage 1/);
    expect(g.dump()).toMatch(/Device 0000:00:03.0 with pasid 0 @0x[0-9a-f]+/);
  });

  it('dma-churn, strict: a map costs no exit and no ioctl, an unmap one IQT exit and one IOMMU_HWPT_INVALIDATE; every byte lands', () => {
    const { vm, g, unit } = start(NESTED, 'strict');
    const buf = g.alloc(4096);
    const misses = unit.hw.tlbs.iotlb.stats.misses;
    for (let i = 0; i < 64; i++) {
      const c = churn(vm, g, buf, i);
      expect(total(c.map.vmExits) + total(c.map.hostIoctls)).toBe(0);
      expect(total(c.dmaOp.vmExits) + total(c.dmaOp.hostIoctls)).toBe(0);
      expect(c.unmap.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 1 });
      expect(c.unmap.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 1 });
      // The guest queued a page-selective PASID-based IOTLB invalidation and its wait.
      expect(c.unmap.guestInvalidations).toEqual({ piotlb: 1, wait: 1 });
    }
    expect(vm.stats.dmaOps).toBe(64);
    expect(vm.stats.dataErrors).toBe(0);
    expect(vm.stats.dmaFaults).toBe(0);
    // Each fill found its translation gone (the forwarded invalidation) and walked both stages again.
    expect(unit.hw.tlbs.iotlb.stats.misses - misses).toBeGreaterThanOrEqual(64);
  });

  it('dma-churn, lazy: unmaps wait in the flush queue; one exit and one all-in-PASID HWPT_INVALIDATE per batch of 255', () => {
    const { vm, g } = start(NESTED, 'lazy');
    const buf = g.alloc(4096);
    const c = cost(vm, () => {
      for (let i = 0; i < 600; i++) churn(vm, g, buf, i);
      g.flushQueue();
    });
    // 600 unmaps: the ring (255) fills at unmap 256 and 511, then the timer flushes the rest.
    expect(c.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 3 });
    expect(c.hostIoctls).toEqual({ IOMMU_HWPT_INVALIDATE: 3 });
    expect(c.guestInvalidations).toEqual({ piotlb: 3, wait: 3 });
    expect(vm.stats.dataErrors).toBe(0);
  });

  it('follows a domain replace: the old nested HWPT is detached and destroyed, the new table bound; old IOVAs fault', () => {
    const { vm, g, unit, host } = start(NESTED, 'strict');
    const buf = g.alloc(4096);
    const old = g.dma().map(buf, 4096, 'from-device');
    const as = (vm.viommu as IntelIommuDevice).addressSpace(0x18)!;
    let r!: { dma: GuestDmaApi; pgd: number };
    const c = cost(vm, () => (r = replaceDomain(g, 'strict')));
    const dma = r.dma;
    // Teardown: PASID-cache (-> detach, destroy) + P_IOTLB of the old DID (nothing bound: not forwarded);
    // setup under caching mode: PASID-cache (-> alloc, attach) + P_IOTLB all of the new DID (forwarded).
    expect(c.hostIoctls).toEqual({ VFIO_DEVICE_DETACH_IOMMUFD_PT: 1, IOMMU_DESTROY: 1, IOMMU_HWPT_ALLOC: 1, VFIO_DEVICE_ATTACH_IOMMUFD_PT: 1, IOMMU_HWPT_INVALIDATE: 1 });
    expect(c.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 4 });
    expect(vm.devices[0]!.vfio.attachedPt).toBe(as.fsHwptId);
    // The host now walks the new guest table: its PASID entry's stage 1 is the new domain's FSPTPTR.
    expect(deviceTranslationStruct(unit, host.iommu.findDevice('0000:01:00.0')!)).toContain(`@0x${r.pgd.toString(16)} (nested stage 1`);
    // The guest's device driver still holds its old mappings (its completion record): DMA straight from the device.
    const iova = dma.map(buf, 4096, 'from-device');
    const pci = host.device('0000:01:00.0');
    pci.dmaWrite(BigInt(iova), new Uint8Array([5, 6, 7, 8]));
    expect([...vm.ram.read(buf, 4)]).toEqual([5, 6, 7, 8]);
    expect(iova).not.toBe(old);
    expect(() => pci.dmaWrite(BigInt(old), new Uint8Array(4))).toThrow(DmaFault);
  });

  it('turning translation off re-attaches the default HWPT (guest RAM at GPA); turning it on binds the table again', () => {
    const { vm, g, host } = start(NESTED, 'strict');
    const as = (vm.viommu as IntelIommuDevice).addressSpace(0x18)!;
    const buf = g.alloc(4096);
    const c = cost(vm, () => g.iommu!.disableTranslation());
    expect(c.hostIoctls).toEqual({ VFIO_DEVICE_ATTACH_IOMMUFD_PT: 1, IOMMU_DESTROY: 1 });
    expect(vm.devices[0]!.vfio.attachedPt).toBe(vm.devices[0]!.defaultHwpt);
    // Without translation a DMA address is a GPA: the device's write lands in the buffer.
    host.device('0000:01:00.0').dmaWrite(BigInt(buf), new Uint8Array([1, 2, 3, 4]));
    expect([...vm.ram.read(buf, 4)]).toEqual([1, 2, 3, 4]);
    g.iommu!.enableTranslation();
    expect(as.pcValid && as.fsHwptId > 0).toBe(true);
    expect(vm.devices[0]!.vfio.attachedPt).toBe(as.fsHwptId);
    expect(g.memfill(undefined, buf, 64, 9n)).toBe(false);
  });

  it('splits a transfer above the work queue maximum (2 MiB) into descriptors; every byte is checked', () => {
    const { vm, g } = start(NESTED, 'lazy');
    const len = 3 * 2 ** 20;
    const buf = g.alloc(len);
    const iova = g.dma().map(buf, len, 'from-device');
    expect(g.memfill(undefined, iova, len, 0x0123_4567_89ab_cdefn)).toBe(true);
    expect(vm.stats.dmaOps).toBe(2);
    expect(vm.stats.dataErrors).toBe(0);
    expect([...vm.ram.read(buf + len - 8, 8)]).toEqual([0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01]);
  });

  it('moves data between two mappings correctly, and a DMA to an unmapped IOVA faults, writes nothing and reaches the guest', () => {
    const { vm, g, unit } = start(NESTED, 'strict');
    const src = g.alloc(8192);
    const dst = g.alloc(8192);
    g.fillPattern(src, 8192, 42);
    const dma = g.dma();
    const s = dma.map(src + 0x100, 0x1e00, 'to-device');
    const d = dma.map(dst + 0x80, 0x1e00, 'from-device');
    expect(g.memmove(undefined, d, s, 0x1e00)).toBe(true);
    expect(vm.stats.dataErrors).toBe(0);
    expect(Buffer.from(vm.ram.read(dst + 0x80, 0x1e00)).equals(Buffer.from(vm.ram.read(src + 0x100, 0x1e00)))).toBe(true);
    dma.unmap(d, 0x1e00);
    const before = vm.ram.read(dst, 8192);
    expect(g.memmove(undefined, d, s, 0x100)).toBe(false);
    expect(vm.ram.read(dst, 8192)).toEqual(before);
    expect(vm.stats.dmaFaults).toBe(1);
    // The guest learns the fault in its own terms: the IOVA it used, a write.
    expect(g.dmaFaults).toEqual([{ dev: 'vfio0', iova: BigInt(d), write: true }]);
    // The host IOMMU recorded it against the guest's stage-1 entry (not present).
    expect(unit.faults.log.at(-1)).toMatchObject({ reason: 0x71, address: BigInt(d) & ~0xfffn });
    // Through the iommu-lab fault extension (a VT-d vIOMMU and its vEVENTQ; not in Linux) the emulated unit
    // records it too, and the guest's DMAR fault handler reads it: guest RID 00:03.0, no PASID, the guest IOVA.
    expect(g.faults).toEqual([{ sid: 0x18, pasid: -1, addr: BigInt(d) & ~0xfffn, reason: 0x71, reasonName: 'SM: Present bit in first-level paging entry is clear', type: 'write' }]);
    expect(vm.stats.vmExits['irq:msi:0x40']).toBe(1);
  });
});

/** Linux's domain replace for the device's RID_PASID (tear the entry down, set the new one up); a DMA API on it. */
function replaceDomain(g: Guest, flush: 'strict' | 'lazy'): { dma: GuestDmaApi; pgd: number } {
  const iommu = g.iommu!;
  const info = iommu.devices.get(0x18)!;
  iommu.detachDevice(info);
  const d = iommu.allocDomain();
  iommu.attachDevice(info, d);
  return { dma: new GuestDmaApi(d, iommu.tags, flush, 2 ** 35), pgd: d.pgd };
}

describe('shadow mode (caching mode, x-flts=off): the VMM walks the guest second stage and maps the host IOAS', () => {
  it('dma-churn, strict: every map and every unmap is one IQT exit and one IOAS_MAP or IOAS_UNMAP', () => {
    const { vm, g } = start(SHADOW, 'strict');
    const buf = g.alloc(4096);
    for (let i = 0; i < 64; i++) {
      const c = churn(vm, g, buf, i);
      expect(c.map.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 1 });
      expect(c.map.hostIoctls).toEqual({ IOMMU_IOAS_MAP: 1 });
      expect(c.map.guestInvalidations).toEqual({ iotlb: 1, wait: 1 });
      expect(total(c.dmaOp.vmExits) + total(c.dmaOp.hostIoctls)).toBe(0);
      expect(c.unmap.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 1 });
      expect(c.unmap.hostIoctls).toEqual({ IOMMU_IOAS_UNMAP: 1 });
    }
    expect(vm.stats.dmaOps).toBe(64);
    expect(vm.stats.dataErrors).toBe(0);
  });

  it('dma-churn, lazy: maps still exit each time; unmaps become one domain-selective resync per batch', () => {
    const { vm, g } = start(SHADOW, 'lazy');
    const buf = g.alloc(4096);
    const c = cost(vm, () => {
      for (let i = 0; i < 300; i++) churn(vm, g, buf, i);
      g.flushQueue();
    });
    // 300 map exits + 2 flush-all exits (unmap 256 and the timer); each resync unmaps the stale pages it finds.
    expect(c.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 302 });
    expect(c.hostIoctls).toEqual({ IOMMU_IOAS_MAP: 300, IOMMU_IOAS_UNMAP: 300 });
    expect(c.guestInvalidations).toEqual({ iotlb: 302, wait: 302 });
    expect(vm.stats.dataErrors).toBe(0);
  });

  it('follows a domain replace: the old shadow is unmapped at once, the new table replayed from guest RAM', () => {
    const { vm, g } = start(SHADOW, 'strict');
    const buf = g.alloc(4096);
    const old = g.dma().map(buf, 4096, 'from-device');
    const c = cost(vm, () => replaceDomain(g, 'strict'));
    // The PASID entry went away: everything in the IOAS is unmapped (one ioctl for the whole range).
    expect(c.hostIoctls).toEqual({ IOMMU_IOAS_UNMAP: 1 });
    expect(g.memfill(undefined, old, 64, 1n)).toBe(false);
  });

  it('keeps the device off guest RAM it did not map: after an unmap, the shadow IOAS has nothing there', () => {
    const { vm, g } = start(SHADOW, 'strict');
    const buf = g.alloc(4096);
    const dma = g.dma();
    const iova = dma.map(buf, 4096, 'from-device');
    dma.unmap(iova, 4096);
    expect(g.memfill(undefined, iova, 64, 1n)).toBe(false);
    expect(vm.stats.dmaFaults).toBe(1);
    // A GPA is not an IOVA here: DMA at the buffer's GPA faults too (RAM left the IOAS when TE went on).
    expect(g.memfill(undefined, buf, 64, 1n)).toBe(false);
  });
});

describe('many devices, random sizes (a mixed workload)', () => {
  const THREE = {
    memory: '8G',
    iommus: [{ id: 'dmar0', model: 'intel-vtd' }],
    devices: [
      { bdf: '0000:01:00.0', iommu: 'dmar0', pasidBits: 20 },
      { bdf: '0000:01:00.1', iommu: 'dmar0', pasidBits: 20 },
      { bdf: '0000:05:00.0', iommu: 'dmar0' },
    ],
  };
  const devs = ['-device vfio-pci,host=0000:01:00.0,iommufd=iommufd0,id=a', '-device vfio-pci,host=0000:01:00.1,iommufd=iommufd0,id=b', '-device vfio-pci,host=0000:05:00.0,iommufd=iommufd0,id=c'].join(' ');

  it.each([
    ['nested', 'x-flts=on', 'lazy', 3 * 2 ** 20],
    ['nested', 'x-flts=on', 'strict', 3 * 2 ** 20],
    ['shadow', 'aw-bits=39', 'strict', 64 * 1024],
  ] as const)('%s, %s flush (%s): every byte of every copy lands, no fault, each device in its own domain', (_mode, prop, flush, maxLen) => {
    const vm = new Vm(createHost(THREE), `-m 4G -M q35 -device intel-iommu,x-scalable-mode=on,caching-mode=on,${prop} -object iommufd,id=iommufd0 ${devs}`);
    const g = bootGuest(vm, { flush });
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const live: { dev: string; iova: number; len: number; gpa: number }[] = [];
    for (let i = 0; i < 150; i++) {
      const dev = ['a', 'b', 'c'][rnd(3)]!;
      if (live.length > 12 || (live.length > 0 && rnd(3) === 0)) {
        const m = live.splice(rnd(live.length), 1)[0]!;
        g.dma(m.dev).unmap(m.iova, m.len);
        g.free(m.gpa, m.len + 64);
        continue;
      }
      // Every fifth buffer is 2 MiB at a 2 MiB-aligned GPA: the guest maps it with a large leaf, sometimes over a
      // page table its earlier 4 KiB maps left empty (freed, flushed with IH = 0).
      const huge = i % 5 === 0 && maxLen >= 2 ** 21;
      const len = huge ? 2 ** 21 : 1 + rnd(maxLen);
      const gpa = g.alloc(len + 64, huge ? 2 ** 21 : 4096);
      const src = g.alloc(len);
      g.fillPattern(src, len, i);
      const d = g.dma(dev).map(gpa + (huge ? 0 : i % 64), len, 'bidirectional');
      const s = g.dma(dev).map(src, len, 'to-device');
      expect(g.memmove(dev, d, s, len)).toBe(true);
      g.dma(dev).unmap(s, len);
      g.free(src, len);
      live.push({ dev, iova: d, len, gpa });
    }
    g.flushQueue();
    expect(vm.stats.dmaFaults).toBe(0);
    expect(vm.stats.dataErrors).toBe(0);
    expect(vm.stats.dmaOps).toBeGreaterThan(50);
    // Three devices, three DMA domains: three DIDs in the guest's PASID entries.
    const dids = new Set([0x18, 0x20, 0x28].map((sid) => g.iommu!.devices.get(sid)!.domain!.did));
    expect(dids.size).toBe(3);
    vm.shutdown();
  }, 60_000);
});

describe('refusals, as QEMU words them', () => {
  const refusal = (args: string, host = createHost()) => {
    try {
      new Vm(host, args);
    } catch (e) {
      expect(e).toBeInstanceOf(QemuOptionError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it('x-flts without scalable mode; x-flts with aw-bits other than 48', () => {
    expect(refusal(`-m 2G -M q35 -device intel-iommu,x-flts=on,caching-mode=on ${VFIO}`)).toBe(
      'qemu-system: -device intel-iommu,x-flts=on,caching-mode=on: x-flts is only available in scalable mode',
    );
    expect(refusal(`-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on,aw-bits=39,caching-mode=on ${VFIO}`)).toMatch(
      /Scalable mode\(x-flts=on\): supported value for aw-bits is: 48$/,
    );
  });

  it('a host IOMMU narrower than the guest, said with the sides named', () => {
    const narrow = createHost({ memory: '4G', iommus: [{ id: 'dmar0', model: 'intel-vtd', addressWidth: 39 }], devices: [{ bdf: '0000:01:00.0', iommu: 'dmar0' }] });
    expect(refusal(NESTED, narrow)).toBe(
      'qemu-system: -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0: vfio 0000:01:00.0: aw-bits 48 > host aw-bits 39 (the guest\'s intel-iommu addresses 48 bits; the host IOMMU domain of 0000:01:00.0 covers only 39)',
    );
    // The default host's first-stage auto domain covers 47 bits: a 48-bit shadowing guest does not fit.
    expect(refusal(`-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,caching-mode=on ${VFIO}`)).toMatch(/aw-bits 48 > host aw-bits 47/);
  });

  it('vfio-pci without iommufd under x-flts; no caching mode; a host without first-stage 1 GiB pages', () => {
    expect(refusal('-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on -device vfio-pci,host=0000:01:00.0')).toMatch(
      /vfio 0000:01:00.0: Need IOMMUFD backend when x-flts=on/,
    );
    expect(refusal(`-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on ${VFIO}`)).toMatch(
      /Device assignment is not allowed without enabling caching-mode=on for Intel IOMMU\.$/,
    );
    const no1g = createHost({ memory: '4G', iommus: [{ id: 'dmar0', model: 'intel-vtd', fs1gp: false }], devices: [{ bdf: '0000:01:00.0', iommu: 'dmar0' }] });
    expect(refusal(NESTED, no1g)).toMatch(/First stage 1GB large page is unsupported by host IOMMU/);
    // fs1gp=off asks for nothing the host lacks.
    expect(() => new Vm(no1g, NESTED.replace('fs1gp=on', 'fs1gp=off'))).not.toThrow();
  });

  it('a device behind an SMMUv3 under an intel-iommu with x-flts', () => {
    expect(refusal(NESTED.replace('0000:01:00.0', '0000:02:00.0'))).toMatch(/Incompatible host platform IOMMU type 2/);
  });

  it('a refused VM leaves nothing behind on the host', () => {
    const host = createHost();
    refusal(`-m 2G -M q35 -device intel-iommu,x-scalable-mode=on,caching-mode=on ${VFIO}`, host);
    // The device is free again: a good VM can take it.
    expect(() => start(NESTED, 'strict', host)).not.toThrow();
  });
});
