import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { cloneStats, statsDelta } from '../../vm/stats.js';
import { Vm } from '../../vm/vm.js';
import { bootGuest } from '../kernel.js';
import { GuestSvm, GuestSvmError } from './svm.js';
import '../../intel-iommu/index.js';

const SVM = 'x-scalable-mode=on,x-flts=on,caching-mode=on,x-pasid-mode=on,device-iotlb=on,svm=on';

function boot(props = SVM) {
  const vm = new Vm(new Host({ memory: 512 * 2 ** 20 }), `-m 128M -M q35 -device intel-iommu,${props}`);
  const g = bootGuest(vm, { flush: 'strict' });
  const iommu = g.iommu!;
  // A device at 00:04.0 with 20 PASID bits, ATS and PRI, probed by hand (the VM has no assigned device).
  const info = iommu.probeDevice(0x20, 20, { ats: true, pri: true });
  return { vm, g, iommu, info, svm: new GuestSvm(iommu) };
}

describe('the guest SVA domain at a PASID (intel_svm_set_dev_pasid, intel_pasid_tear_down_entry)', () => {
  it('probes an ATS+PRI device with DTE and PRE in its context entry', () => {
    const { vm, iommu, info } = boot();
    expect(info).toMatchObject({ ats: true, pri: true, pasid: true });
    const w = new Uint32Array(2);
    const rootEntry = iommu.rootGpa + 0 * 16;
    vm.ram.read64(rootEntry, w);
    const ctx = (w[0]! & ~0xfff) + 0x20 * 32;
    vm.ram.read64(ctx, w);
    // P (0) | DTE (2) | PASIDE (3) | PRE (4) = 0x1d
    expect(w[0]! & 0x1f).toBe(0x1d);
  });

  it('writes a first-stage entry with DID 1 and FSPTPTR = CR3, then a PASID-selective PASID-cache and an all-PASID IOTLB flush', () => {
    const { vm, g, info, svm } = boot();
    const mm = g.sva!.spawn();
    const before = cloneStats(vm.stats);
    svm.setDevPasid(info, 5, mm.cr3);
    const e = new Uint32Array(16);
    info.pasidTable.read(5, e);
    // val[0]: P | AW 2 (4-level) << 2 | PGTT 1 (first stage) << 6 = 0x49; val[1]: DID 1 | PWSNP (bit 87 = 23 of the word);
    // val[2]: FSPTPTR = CR3, FSPM 0, SRE 0 (a user process).
    expect([e[0], e[1], e[2], e[3], e[4], e[5]]).toEqual([0x49, 0, 0x0080_0001, 0, mm.cr3, 0]);
    const d = statsDelta(vm.stats, before);
    expect(d.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 2 });
    expect(d.guestInvalidations).toEqual({ pc: 1, piotlb: 1, wait: 2 });
    expect(() => svm.setDevPasid(info, 5, mm.cr3)).toThrow(GuestSvmError);
  });

  it('tears down with the device-TLB flush and the page-request drain (a wait with PD the unit accepts)', () => {
    const { vm, g, info, svm } = boot();
    svm.setDevPasid(info, 7, g.sva!.spawn().cr3);
    const before = cloneStats(vm.stats);
    svm.removeDevPasid(info, 7);
    expect(info.pasidTable.present(7)).toBe(false);
    const d = statsDelta(vm.stats, before);
    // [pc] [piotlb] [pasid-dev-tlb] [fenced wait, piotlb, pasid-dev-tlb], each closed by a wait (the last with PD).
    expect(d.guestInvalidations).toEqual({ pc: 1, piotlb: 2, 'pasid-dev-tlb': 2, wait: 5 });
    expect(d.vmExits).toEqual({ 'mmio-write:intel-iommu:IQT_REG': 4 });
    expect(g.iommu!.qi.errors).toBe(0);
  });

  it('refuses SVA on a unit without SMPWC (not SVM capable) or a device without ATS', () => {
    const plain = boot('x-scalable-mode=on,x-flts=on,caching-mode=on,x-pasid-mode=on,device-iotlb=on');
    expect(() => plain.svm.setDevPasid(plain.info, 5, 0x10_0000)).toThrow(/ENODEV/);
    const { iommu, svm } = boot();
    const noAts = iommu.probeDevice(0x28, 20, { ats: false });
    expect(() => svm.setDevPasid(noAts, 5, 0x10_0000)).toThrow(/EINVAL/);
  });
});
