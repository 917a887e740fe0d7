import { DMAR_CCMD_REG, DMAR_FSTS_REG, DMAR_GCMD_REG, DMAR_GSTS_REG, DMAR_IQH_REG, DMAR_IQT_REG, DMAR_RTADDR_REG } from '@iommu-lab/hw-vtd/format';
import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { dumpDeviceTranslation } from '../guest/debugfs.js';
import { bootGuest } from '../guest/kernel.js';
import { QiBatch } from '../guest/intel/qi.js';
import { Vm, type VmDevice } from '../vm/vm.js';
import { IntelIommuDevice } from './intel-iommu.js';
import './index.js';

const VTD = 0xfed9_0000;

function boot(props = 'x-scalable-mode=on,x-flts=on,caching-mode=on') {
  const host = new Host({ memory: 256 * 2 ** 20 });
  const vm = new Vm(host, `-m 128M -M q35 -device intel-iommu,${props}`);
  const dev = vm.viommu as IntelIommuDevice;
  const g = bootGuest(vm, { flush: 'strict' });
  return { vm, dev, g };
}

describe('the emulated intel-iommu under the guest driver', () => {
  it('comes up as Linux brings it up: QI, root table in scalable mode, translation on', () => {
    const { vm, dev, g } = boot();
    expect(vm.mmio.read(VTD + DMAR_GSTS_REG, 4)).toBe(0xc400_0000n); // TES | RTPS | QIES
    expect(vm.mmio.read(VTD + DMAR_RTADDR_REG, 8)).toBe(BigInt(g.iommu!.rootGpa) | (1n << 10n));
    expect(dev.s.rootScalable).toBe(true);
    expect(dev.s.root).toBe(g.iommu!.rootGpa);
    expect(dev.iq.enabled && dev.iq.dw).toBe(true);
    // GCMD is write-only: it reads 0.
    expect(vm.mmio.read(VTD + DMAR_GCMD_REG, 4)).toBe(0n);
    // Each register access was a VM exit, named after the register.
    expect(vm.stats.vmExits['mmio-write:intel-iommu:GCMD_REG']).toBe(3);
    expect(vm.stats.vmExits['mmio-read:intel-iommu:CAP_REG']).toBe(1);
  });

  it('processes what the guest queues inside the IQT exit: IQH catches up, the wait status lands in guest RAM', () => {
    const { vm, dev, g } = boot();
    const before = vm.stats.vmExits['mmio-write:intel-iommu:IQT_REG'] ?? 0;
    const b = new QiBatch();
    b.piotlb(2, 0, 0x1234, 0, true, false);
    expect(g.iommu!.qi.submitSync(b)).toBe(0);
    expect(vm.stats.vmExits['mmio-write:intel-iommu:IQT_REG']).toBe(before + 1);
    expect(vm.mmio.read(VTD + DMAR_IQH_REG, 8)).toBe(vm.mmio.read(VTD + DMAR_IQT_REG, 8));
    expect(vm.stats.guestInvalidations.piotlb).toBeGreaterThanOrEqual(1);
    expect(dev.s.errors).toEqual([]);
  });

  it('stops at a bad descriptor with FSTS.IQE; the guest replaces it by the wait descriptor, clears IQE and goes on', () => {
    const { vm, g } = boot();
    const b = new QiBatch();
    b.iotlb(1, 2, 0, 0, false, false);
    // Reserved bit 8 of qword 0.
    b.words[0] = b.words[0]! | 0x100;
    expect(g.iommu!.qi.submitSync(b)).toBe(-22);
    expect(g.iommu!.qi.errors).toBe(1);
    expect(vm.mmio.read(VTD + DMAR_FSTS_REG, 4) & 0x10n).toBe(0n);
    b.iotlb(1, 2, 0, 0, false, false);
    expect(g.iommu!.qi.submitSync(b)).toBe(0);
  });

  it('refuses register-based invalidation while QI is on (QEMU logs and ignores it)', () => {
    const { vm, dev } = boot();
    // CCMD: ICC | global.
    vm.mmio.write(VTD + DMAR_CCMD_REG, 8, (1n << 63n) | (1n << 61n));
    expect(dev.s.errors).toEqual(['Queued Invalidation enabled, should not use register-based invalidation']);
  });

  it('delivers a recorded fault to the guest handler, which reads and clears it', () => {
    const { vm, dev, g } = boot();
    dev.fault.report({ sid: 0x18, pasid: -1, addr: 0x1234_5000n, reason: 0x71, write: true });
    expect(vm.stats.vmExits['irq:msi:0x40']).toBe(1);
    expect(g.faults).toEqual([{ sid: 0x18, pasid: -1, addr: 0x1234_5000n, reason: 0x71, reasonName: 'SM: Present bit in first-level paging entry is clear', type: 'write' }]);
    expect(vm.mmio.read(VTD + DMAR_FSTS_REG, 4)).toBe(0n);
    // The register is free again: the next fault is recorded too.
    dev.fault.report({ sid: 0x18, pasid: 7, addr: 0x2000n, reason: 0x85, write: true });
    expect(g.faults.at(-1)).toMatchObject({ pasid: 7, reason: 0x85 });
  });
});

describe('the guest driver\'s tables, as the unit reads them', () => {
  it('probe writes the root and context entries (and flushes device-selectively under caching mode)', () => {
    const { vm, g } = boot();
    const before = { ...vm.stats.guestInvalidations };
    const info = g.iommu!.probeDevice(0x18, 0);
    const root = g.iommu!.rootGpa;
    // Root entry of bus 0, lower half: the context table page | P.
    const ctxTable = Number(vm.ram.u64(root) & ~0xfffn);
    expect(vm.ram.u64(root) & 0xfffn).toBe(1n);
    // Context entry of devfn 0x18 (offset 0x18 * 32): PASID directory | PDTS 2 << 9 (2^15 PASIDs: 512 entries) | P.
    expect(vm.ram.u64(ctxTable + 0x18 * 32)).toBe(BigInt(info.pasidTable.dir) | 0x401n);
    expect(vm.ram.u64(ctxTable + 0x18 * 32 + 8)).toBe(0n);
    expect(vm.stats.guestInvalidations.cc).toBe((before.cc ?? 0) + 1);
    expect(vm.stats.guestInvalidations.iotlb).toBe((before.iotlb ?? 0) + 1);
  });

  it('the guest debugfs prints the entries and the first-stage leaf of a mapping', () => {
    const { vm, g } = boot();
    const iommu = g.iommu!;
    const info = iommu.probeDevice(0x18, 0);
    const d = iommu.allocDomain();
    iommu.attachDevice(info, d);
    // IOVA page 0x123 -> GPA page 0x456, read/write.
    d.map(0x123, 0x456, 1, 3);
    const dump = dumpDeviceTranslation(g, { vfio: { guestRid: 0x18 } } as unknown as VmDevice);
    const lines = dump.trim().split('\n');
    expect(lines[0]).toBe(`IOMMU dmar0: Root Table Address: 0x${iommu.rootGpa.toString(16)}`);
    const pe0 = vm.ram.u64(info.pasidTable.entryGpa(0));
    // PASID entry val[0]: PGTT 1 << 6 | AW 2 << 2 | P.
    expect(pe0).toBe(0x49n);
    expect(lines[2]).toMatch(/^00:03\.0\t0x0000000000000000:0x[0-9a-f]{16}\t0x0000000000000000:0x[0-9a-f]{13}401\t0 {5}\t0x[0-9a-f]{16}:0x0000000000000002:0x0000000000000049$/);
    expect(lines[4]).toBe(`Device 0000:00:03.0 with pasid 0 @0x${d.pgd.toString(16)}`);
    // The leaf row: IOVA_PFN, then PML5E (none), PML4E, PDPE, PDE and PTE = GPA 0x456000 | D A U RW P (0x67).
    expect(lines[6]).toMatch(/^0x0000000000123 \|\t0x0000000000000000\t0x[0-9a-f]{13}027\t0x[0-9a-f]{13}027\t0x[0-9a-f]{13}027\t0x0000000000456067$/);
    expect(lines).toHaveLength(7);
  });
});
