// sva: guest processes hand their own virtual addresses to the device (DMA with their PASID); pages that are not
// present come in through PRI (the device blocks on the fault, the guest faults the page in, the DMA goes on).
// The same on either vIOMMU: VT-d (PASID entries at CR3) or SMMUv3 (CDs at TTB0 in the guest's CD tables).
import { DSA_COMP_SUCCESS } from '@iommu-lab/vfio';
import type { GuestProcessMm } from '../guest/mm.js';
import { type Workload, WorkloadError } from './workload.js';

export const sva: Workload = {
  name: 'sva',
  description: 'processes bound to the device PASIDs fill their own memory; faultEvery iterations their pages start not present (PRI)',
  defaults: { iterations: 100, size: 16384, processes: 2, faultEvery: 10 },
  steps: (p) => p.iterations!,
  run(g, p, progress) {
    const s = g.iommuSva;
    if (!s) throw new WorkloadError('sva needs a vIOMMU: -device intel-iommu,...,svm=on or -device arm-smmuv3,...,accel=on,ats=on,pri=on');
    const unmet = s.unmet();
    if (unmet) throw new WorkloadError(unmet);
    const dev = g.device().vfio.id;
    const size = Math.max(8, p.size! - (p.size! % 8));
    const faultEvery = p.faultEvery!;
    const procs: { mm: GuestProcessMm; va: number }[] = [];
    for (let i = 0; i < Math.max(1, p.processes!); i++) {
      const mm = s.spawn();
      const va = mm.mmap(size);
      // faultEvery = 0: every page is touched by the process first, so the device never faults.
      if (faultEvery === 0) mm.write(va, new Uint8Array(size));
      s.bind(dev, mm);
      procs.push({ mm, va });
    }
    for (let i = 0; i < p.iterations!; i++) {
      for (const [k, { mm, va }] of procs.entries()) {
        // The pages go (reclaimed: the mmu notifier flushes the PASID), so the device finds them not present.
        if (faultEvery > 0 && i > 0 && i % faultEvery === 0) s.munmap(mm, va, size);
        const r = s.memfill(dev, mm, va, size, 0x5a00_0000_0000_0000n + BigInt(i * 256 + k));
        if (r.status !== DSA_COMP_SUCCESS) throw new Error(`sva: pid ${mm.pid} DMA failed with status 0x${r.status.toString(16)} at 0x${r.faultAddr.toString(16)}`);
      }
      progress?.(i + 1, p.iterations!);
    }
    // Unbinding stops it: the next DMA with the PASID must fault and write nothing.
    for (const { mm, va } of procs) {
      s.unbind(dev, mm);
      const before = mm.read(va, 8);
      const r = s.memfill(dev, mm, va, 8, 0x0123_4567_89ab_cdefn);
      const after = mm.read(va, 8);
      if (r.status === DSA_COMP_SUCCESS || before.some((b, j) => b !== after[j])) g.vm.stats.dataErrors += 8;
      s.exit(mm);
    }
  },
};
