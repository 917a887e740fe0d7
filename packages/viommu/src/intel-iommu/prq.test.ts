import { DMAR_PECTL_REG, DMAR_PQA_REG, DMAR_PQH_REG, DMAR_PQT_REG, DMAR_PRS_REG } from '@iommu-lab/hw-vtd/format';
import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { bootGuest } from '../guest/kernel.js';
import { GuestRam } from '../vm/guest-ram.js';
import { cloneStats, statsDelta } from '../vm/stats.js';
import { Vm } from '../vm/vm.js';
import { VtdFaultUnit } from './fault.js';
import type { IntelIommuDevice } from './intel-iommu.js';
import { definePrqRegs, type GuestPageRequest, VtdPrq } from './prq.js';
import { VtdCsr } from './regs.js';
import './index.js';

const SVM = 'x-scalable-mode=on,x-flts=on,caching-mode=on,x-pasid-mode=on,device-iotlb=on,svm=on';
const req = (over: Partial<GuestPageRequest> = {}): GuestPageRequest => ({
  sid: 0x18,
  pasid: 5,
  addr: 0x7f12_3400_1000n,
  read: false,
  write: true,
  exec: false,
  priv: false,
  prgi: 3,
  last: true,
  ...over,
});

describe('the emulated page request queue with the guest driver', () => {
  it('writes the descriptor into the guest queue; the guest reads it in its interrupt, answers with a page group response', () => {
    const vm = new Vm(new Host({ memory: 512 * 2 ** 20 }), `-m 128M -M q35 -device intel-iommu,${SVM}`);
    const g = bootGuest(vm, { flush: 'strict' });
    const dev = vm.viommu as IntelIommuDevice;
    const prq = g.sva!.prq!;
    const before = cloneStats(vm.stats);
    expect(dev.svm!.prq.request(req(), true, false)).toBe('queued');
    // qw0: type 1 | PP (bit 8) | RID 0x18 << 16 | PASID 5 << 32; qw1: WR (bit 1) | LPIG (bit 2) | PRGI 3 << 3 | page.
    expect(vm.ram.u64(prq.gpa)).toBe(0x0000_0005_0018_0101n);
    expect(vm.ram.u64(prq.gpa + 8)).toBe(0x7f12_3400_101en);
    // Nobody is bound at PASID 5: the guest answers Invalid Request (1).
    expect(prq.log).toEqual([{ ...req(), response: 1 }]);
    const d = statsDelta(vm.stats, before);
    expect(d.vmExits).toEqual({
      'irq:msi:0x41': 1,
      'mmio-write:intel-iommu:PRS_REG': 1,
      'mmio-read:intel-iommu:PQT_REG': 1,
      'mmio-read:intel-iommu:PQH_REG': 1,
      'mmio-write:intel-iommu:PQH_REG': 1,
      'mmio-read:intel-iommu:PRS_REG': 1,
      'mmio-write:intel-iommu:IQT_REG': 1,
    });
    expect(d.guestInvalidations).toEqual({ 'pgrp-resp': 1, wait: 1 });
    expect(vm.mmio.read(0xfed9_0000 + DMAR_PQH_REG, 8)).toBe(0x20n);
  });

  it('refuses a request for a device whose guest context entry has PRE clear: fault 0x47 in the guest fault log', () => {
    const vm = new Vm(new Host({ memory: 512 * 2 ** 20 }), `-m 128M -M q35 -device intel-iommu,${SVM}`);
    const g = bootGuest(vm, { flush: 'strict' });
    const dev = vm.viommu as IntelIommuDevice;
    expect(dev.svm!.prq.request(req(), false, false)).toBe('refused');
    expect(g.faults.at(-1)).toMatchObject({ sid: 0x18, pasid: 5, reason: 0x47, addr: 0x7f12_3400_1000n, type: 'write' });
    // With FPD set nothing is recorded.
    expect(dev.svm!.prq.request(req(), false, true)).toBe('refused');
    expect(g.faults.length).toBe(1);
  });
});

describe('VtdPrq queue mechanics', () => {
  function rig() {
    const host = new Host({ memory: 64 * 2 ** 20 });
    const ram = new GuestRam(host.spawnProcess(), 16 * 2 ** 20, host.mem);
    const csr = new VtdCsr();
    definePrqRegs(csr, true);
    const irqs: number[] = [];
    const prq = new VtdPrq(csr, ram, new VtdFaultUnit(csr, () => {}), (_a, d) => irqs.push(d));
    // A one-page queue (PQS 0: 128 descriptors) at 1 MiB, event vector 0x41, unmasked.
    csr.setLong(DMAR_PQA_REG, 0x10_0000);
    csr.setLong(0xe4, 0x41);
    csr.setLong(DMAR_PECTL_REG, 0);
    return { csr, prq, irqs, ram };
  }

  it('raises one event per PPR edge, holds it in PECTL.IP while masked', () => {
    const { csr, prq, irqs } = rig();
    prq.request(req(), true, false);
    prq.request(req({ prgi: 4 }), true, false);
    expect(irqs).toEqual([0x41]);
    expect(csr.raw(DMAR_PQT_REG)).toBe(0x40);
    csr.setLong(DMAR_PRS_REG, 1);
    csr.setLong(DMAR_PECTL_REG, 0x8000_0000);
    prq.request(req({ prgi: 5 }), true, false);
    expect(irqs).toEqual([0x41]);
    expect(csr.raw(DMAR_PECTL_REG)).toBe(0xc000_0000);
    csr.setLong(DMAR_PECTL_REG, 0);
    prq.pectlWritten();
    expect(irqs).toEqual([0x41, 0x41]);
  });

  it('sets PRO and drops on a full queue, drops while PRO is set, queues again once software clears it', () => {
    const { csr, prq } = rig();
    for (let i = 0; i < 127; i++) expect(prq.request(req({ prgi: i }), true, false)).toBe('queued');
    expect(prq.request(req(), true, false)).toBe('dropped');
    expect(csr.raw(DMAR_PRS_REG) & 2).toBe(2);
    csr.setLong(DMAR_PQH_REG, 127 * 32);
    expect(prq.request(req(), true, false)).toBe('dropped');
    csr.setLong(DMAR_PRS_REG, 3);
    expect(prq.request(req(), true, false)).toBe('queued');
    expect(csr.raw(DMAR_PQT_REG)).toBe(0);
  });
});
