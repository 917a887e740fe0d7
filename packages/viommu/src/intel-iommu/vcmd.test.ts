import { DMAR_VCCAP_REG, DMAR_VCMD_REG, DMAR_VCRSP_REG } from '@iommu-lab/hw-vtd/format';
import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { bootGuest } from '../guest/kernel.js';
import { Vm } from '../vm/vm.js';
import type { IntelIommuDevice } from './intel-iommu.js';
import { vmmPasidAllocator } from './pasid-alloc.js';
import './index.js';

const VTD = 0xfed9_0000;
const SVM = 'x-scalable-mode=on,x-flts=on,caching-mode=on,x-pasid-mode=on,device-iotlb=on,svm=on';

function boot(props: string, host = new Host({ memory: 512 * 2 ** 20 })) {
  const vm = new Vm(host, `-m 128M -M q35 -device intel-iommu,${props}`);
  const g = bootGuest(vm, { flush: 'strict' });
  return { host, vm, g, dev: vm.viommu as IntelIommuDevice };
}

describe('virtual commands (enlightened PASID allocation)', () => {
  it('the guest registers the VCMD allocator and gets PASIDs from the VM set, one VCMD write and one VCRSP read each, up to the quota', () => {
    const { vm, g, dev } = boot(`${SVM},x-pasid-quota=2`);
    const sva = g.sva!;
    expect(sva.enlightened).toBe(true);
    expect(vm.mmio.read(VTD + DMAR_VCCAP_REG, 8)).toBe(1n); // VCCAP.PAS
    const exits = { ...vm.stats.vmExits };
    expect(sva.ioasid.alloc(sva.set, 1, 0xfffff)).toBe(1);
    expect(sva.ioasid.alloc(sva.set, 1, 0xfffff)).toBe(2);
    expect(vm.stats.vmExits['mmio-write:intel-iommu:VCMD_REG']! - (exits['mmio-write:intel-iommu:VCMD_REG'] ?? 0)).toBe(2);
    expect(vm.stats.vmExits['mmio-read:intel-iommu:VCRSP_REG']! - (exits['mmio-read:intel-iommu:VCRSP_REG'] ?? 0)).toBe(2);
    // The third: the VMM answers "no PASID available" (SC 16), the guest allocator has nothing.
    expect(() => sva.ioasid.alloc(sva.set, 1, 0xfffff)).toThrowError(expect.objectContaining({ code: 'ENOSPC' }));
    expect(sva.vcmd.errors).toEqual(['No PASID available']);
    expect(vm.mmio.read(VTD + DMAR_VCRSP_REG, 8)).toBe(0x20n);
    expect(dev.svm!.pasids.held).toBe(2);
    // Freeing goes back through VCMD (PASID 1 << 16 | FREE) and returns the PASID to the VM's set.
    sva.ioasid.free(sva.set, 1);
    expect(dev.svm!.pasids.held).toBe(1);
    expect(sva.vcmd).toMatchObject({ allocs: 2, frees: 1 });
  });

  it('refuses to free a PASID the VM does not hold ("Invalid PASID"); VCRSP is read-only to the guest', () => {
    const { vm, dev } = boot(SVM);
    vm.mmio.write(VTD + DMAR_VCMD_REG, 8, (77n << 16n) | 2n);
    expect(vm.mmio.read(VTD + DMAR_VCRSP_REG, 8)).toBe(0x20n);
    expect(dev.svm!.vcmd.refused).toBe(1);
    vm.mmio.write(VTD + DMAR_VCRSP_REG, 8, 0x1234_0000n);
    expect(vm.mmio.read(VTD + DMAR_VCRSP_REG, 8)).toBe(0x20n);
  });

  it('PASID sets are per VM on one host; a VM shutting down gives its PASIDs and its quota back', () => {
    const host = new Host({ memory: 512 * 2 ** 20 });
    const a = boot(`${SVM},x-pasid-quota=4`, host);
    const b = boot(`${SVM},x-pasid-quota=4`, host);
    const ioasid = vmmPasidAllocator(host);
    expect(a.g.sva!.ioasid.alloc(a.g.sva!.set, 1, 0xfffff)).toBe(1);
    // System-wide PASIDs: the other VM's guest gets the next one.
    expect(b.g.sva!.ioasid.alloc(b.g.sva!.set, 1, 0xfffff)).toBe(2);
    const available = ioasid.available;
    a.vm.shutdown();
    expect(ioasid.findSet(a.vm)).toBeUndefined();
    expect(ioasid.available).toBe(available + 4);
    expect(ioasid.setOf(1)).toBeUndefined();
    expect(ioasid.setOf(2)).toBe(b.dev.svm!.pasids.set);
  });

  it('without svm the unit has no VCMD: VCCAP reads 0, the guest keeps its own allocator, VCMD writes do nothing', () => {
    const { vm, g, dev } = boot('x-scalable-mode=on,x-flts=on,caching-mode=on');
    expect(dev.svm).toBeNull();
    expect(g.sva!.enlightened).toBe(false);
    expect(vm.mmio.read(VTD + DMAR_VCCAP_REG, 8)).toBe(0n);
    vm.mmio.write(VTD + DMAR_VCMD_REG, 8, 1n);
    expect(vm.mmio.read(VTD + DMAR_VCRSP_REG, 8)).toBe(0n);
    // The guest's own allocator numbers from 1 without asking anyone.
    expect(g.sva!.ioasid.alloc(g.sva!.set, 1, 0xfffff)).toBe(1);
  });
});
