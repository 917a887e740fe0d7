import { DMAR_CCMD_REG, DMAR_FSTS_REG, DMAR_GCMD_REG, DMAR_GSTS_REG, DMAR_IQH_REG, DMAR_IQT_REG, DMAR_RTADDR_REG } from '@iommu-lab/hw-vtd/format';
import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { bootGuest } from '../guest/kernel.js';
import { QiBatch } from '../guest/intel/qi.js';
import { Vm } from '../vm/vm.js';
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
