import { IOMMU_PAGE_RESP_SUCCESS } from '@iommu-lab/iommu-core';
import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import '../../arm-smmuv3/index.js';
import { VIRT_SMMU_BASE } from '../../arm-smmuv3/regs.js';
import type { ArmSmmuV3Device } from '../../arm-smmuv3/smmuv3.js';
import { cloneStats, statsDelta } from '../../vm/stats.js';
import { Vm } from '../../vm/vm.js';
import { bootGuest } from '../kernel.js';
import type { GuestPpr } from './priq.js';

function boot() {
  const vm = new Vm(new Host({ memory: 512 * 2 ** 20 }), '-m 256M -M virt -device arm-smmuv3,primary-bus=pcie.0,accel=on,ats=on,pri=on,ssidsize=20,oas=48');
  const g = bootGuest(vm, { flush: 'strict' });
  const dev = vm.viommu as ArmSmmuV3Device;
  const smmu = g.smmu!;
  smmu.probeDevice(0x18, 20, true, true);
  /** What the vSMMU does for a host fault: a record at PRIQ_PROD, then the interrupt. */
  const record = (d0: bigint, d1: bigint) => {
    const at = dev.priq.prodEntry();
    vm.ram.setU64(at, d0);
    vm.ram.setU64(at + 8, d1);
    dev.priq.prodIncr();
    dev.triggerIrq('priq');
  };
  return { vm, g, dev, smmu, record };
}

const r32 = (vm: Vm, off: number) => Number(vm.mmio.read(VIRT_SMMU_BASE + off, 4));

describe("the guest's PRI queue (arm_smmu_priq_thread)", () => {
  it('the reset programs the PRI queue and its interrupt before SMMUEN', () => {
    const { vm, dev, smmu } = boot();
    // CR0: SMMUEN | PRIQEN | EVTQEN | CMDQEN | ATSCHK; IRQ_CTRL: GERROR | PRIQ | EVTQ
    expect([r32(vm, 0x20), r32(vm, 0x50)]).toEqual([0x1f, 0x7]);
    // 2^16 records of 16 bytes: PRIQ_MAX_SZ_SHIFT (Q_MAX_SZ_SHIFT 20 - 4) below IDR1.PRIQS 19
    expect(dev.priq.log2size).toBe(16);
    expect(dev.priq.addr).toBe(smmu.priq!.q.gpa);
  });

  it('a record is handed to the iopf handler and answered with CMD_PRI_RESP carrying the SSID, without a CMD_SYNC', () => {
    const { vm, smmu, record } = boot();
    const seen: GuestPpr[] = [];
    smmu.priq!.handler = (r) => (seen.push(r), IOMMU_PAGE_RESP_SUCCESS);
    const before = cloneStats(vm.stats);
    // SID 0x18, SSID 5, Write | Last | SSV; PRG index 3, page 0x7f12_3400_1000
    record(0xe000_0005_0000_0018n, 0x7f12_3400_1003n);
    expect(seen).toEqual([{ sid: 0x18, ssid: 5, addr: 0x7f12_3400_1000n, read: false, write: true, exec: false, priv: false, prgi: 3, last: true }]);
    const c = statsDelta(vm.stats, before);
    // The interrupt, PROD read twice (empty shadow, then the catch-up), CONS written once; one PRI_RESP submission.
    expect(c.vmExits).toEqual({ 'irq:arm-smmuv3:priq': 1, 'mmio-read:arm-smmuv3:PRIQ_PROD': 2, 'mmio-write:arm-smmuv3:PRIQ_CONS': 1, 'mmio-write:arm-smmuv3:CMDQ_PROD': 1 });
    expect(c.guestInvalidations).toEqual({ PRI_RESP: 1 });
    // op 0x41 | SSV (bit 11) | SSID 5 << 12 = 0x5841, SID 0x18 in [63:32]; PRG index 3 | Resp 2 << 12 = 0x2003
    const q = smmu.cmdq.q;
    const at = q.entry(q.prod - 1);
    expect([vm.ram.u64(at), vm.ram.u64(at + 8)]).toEqual([0x0000_0018_0000_5841n, 0x2003n]);
    expect(smmu.priq!.log.at(-1)!.response).toBe(2);
  });

  it('stop markers need no answer; a stream nobody probed is denied; without a handler the core answers Invalid Request', () => {
    const { smmu, record } = boot();
    const log = smmu.priq!.log;
    // Last without Read or Write: a stop marker
    record(0xc000_0005_0000_0018n, 0x1000n);
    expect(log.at(-1)!.response).toBeNull();
    record(0x5000_0000_0000_0020n, 0x2000n);
    expect(log.at(-1)).toMatchObject({ sid: 0x20, response: 0 });
    record(0x5000_0000_0000_0018n, 0x3000n);
    expect(log.at(-1)).toMatchObject({ sid: 0x18, response: 1 });
    // A page that does not end its group is handled but not answered.
    record(0x1000_0000_0000_0018n, 0x4000n);
    expect(log.at(-1)!.response).toBeNull();
  });

  it('an overflow is counted and acknowledged (CONS.OVACKFLG follows PROD.OVFLG)', () => {
    const { vm, dev, smmu, record } = boot();
    dev.priq.prod = (dev.priq.prod ^ 0x8000_0000) >>> 0;
    record(0x5000_0000_0000_0018n, 0x1000n);
    expect(smmu.priq!.overflows).toBe(1);
    expect(r32(vm, 0x100cc) >>> 31).toBe(1);
  });
});
