import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import '../../arm-smmuv3/index.js';
import { smmuV3PropagateEvent } from '../../arm-smmuv3/evtq.js';
import { VIRT_SMMU_BASE } from '../../arm-smmuv3/regs.js';
import type { ArmSmmuV3Device } from '../../arm-smmuv3/smmuv3.js';
import { smmuFindSte } from '../../arm-smmuv3/ste.js';
import { Vm } from '../../vm/vm.js';
import { bootGuest } from '../kernel.js';
import { CmdBatch } from './cmds.js';

function boot() {
  const host = new Host({ memory: 256 * 2 ** 20 });
  const vm = new Vm(host, '-m 128M -M virt -device arm-smmuv3,primary-bus=pcie.0');
  const g = bootGuest(vm, { flush: 'strict' });
  return { vm, g, smmu: g.smmu!, dev: vm.viommu as ArmSmmuV3Device };
}

const r32 = (vm: Vm, off: number) => Number(vm.mmio.read(VIRT_SMMU_BASE + off, 4));

describe('the guest arm-smmu-v3 driver on the emulated unit', () => {
  it('comes up as arm_smmu_device_reset brings it up: queues, 2-level stream table, interrupts, SMMUEN', () => {
    const { vm, smmu, dev } = boot();
    expect([r32(vm, 0x20), r32(vm, 0x24), r32(vm, 0x50)]).toEqual([0xd, 0xd, 0x5]); // SMMUEN|EVTQEN|CMDQEN; GERROR|EVTQ IRQs
    // STRTAB_BASE_CFG: FMT 2-level (1 << 16) | SPLIT 8 << 6 | LOG2SIZE 16 (256 level-1 entries of 256 STEs)
    expect(r32(vm, 0x88)).toBe(0x1_0210);
    expect(dev.strtabBaseHi).toBe(0x4000_0000); // RA (bit 62)
    // Queues: 2^16 commands and 2^15 events (1 MiB each, CMA-sized), write-allocate hint (bit 62)
    expect([dev.cmdq.log2size, dev.eventq.log2size]).toEqual([16, 15]);
    expect(smmu.features).toMatchObject({ twoLvlStrtab: true, msiPoll: true, rangeInv: true, ats: false });
    // CFGI_ALL and TLBI_NSNH_ALL, each with its CMD_SYNC, completed by the MSI write into the sync's own slot
    expect(vm.stats.guestInvalidations).toEqual({ CFGI_STE_RANGE: 1, TLBI_NSNH_ALL: 1, CMD_SYNC: 2 });
    expect(vm.ram.u32(smmu.cmdq.q.entry(1))).toBe(0);
    expect([r32(vm, 0x98), r32(vm, 0x9c)]).toEqual([4, 4]);
    expect(vm.stats.vmExits['mmio-write:arm-smmuv3:CMDQ_PROD']).toBe(3); // the reset's write of 0, then two submissions
    expect(smmu.cmdq.timeouts + smmu.events.messages.length).toBe(0);
  });

  it("writes a master's CD and STE that the emulated unit finds through its stream table", () => {
    const { vm, smmu, dev } = boot();
    const m = smmu.probeDevice(0x18, 0, false);
    const d = smmu.allocDomain();
    const before = { ...vm.stats.guestInvalidations };
    smmu.attachDevice(m, d);
    const ste = new Uint32Array(16);
    expect(smmuFindSte(vm.ram, dev, 0x18, ste)).toBe(0);
    expect([ste[0], ste[1], ste[2]]).toEqual([(m.cdTable.gpa | 0xb) >>> 0, 0, 0xd6]);
    expect(vm.ram.u64(m.cdTable.gpa + 8)).toBe(BigInt(d.pgd));
    // Two CFGI_CD for the first CD, two CFGI_STE for abort -> stage 1, a PREFETCH_CONFIG; a CMD_SYNC after each CFGI
    const delta = Object.fromEntries(Object.entries(vm.stats.guestInvalidations).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v));
    expect(delta).toEqual({ CFGI_CD: 2, CFGI_STE: 2, PREFETCH_CONFIG: 1, CMD_SYNC: 4 });
  });

  it('without IDR0.MSI completes a CMD_SYNC (CS = SEV) by reading CMDQ_CONS: one more exit per submission', () => {
    const host = new Host({ memory: 256 * 2 ** 20 });
    const vm = new Vm(host, '-m 128M -M virt -device arm-smmuv3,primary-bus=pcie.0');
    (vm.viommu as ArmSmmuV3Device).id.idr[0] &= ~(1 << 13);
    const smmu = bootGuest(vm).smmu!;
    expect(smmu.features.msiPoll).toBe(false);
    const b = new CmdBatch();
    b.tlbi(0x11, 1, 0);
    const before = { ...vm.stats.vmExits };
    smmu.cmdq.issue(b, true);
    expect(vm.stats.vmExits['mmio-write:arm-smmuv3:CMDQ_PROD']! - before['mmio-write:arm-smmuv3:CMDQ_PROD']!).toBe(1);
    expect(vm.stats.vmExits['mmio-read:arm-smmuv3:CMDQ_CONS']! - (before['mmio-read:arm-smmuv3:CMDQ_CONS'] ?? 0)).toBe(1);
    // The sync is CS = SEV (2 << 12) without an MSI address; the unit's CONS passed it
    expect(vm.ram.u32(smmu.cmdq.q.entry(smmu.cmdq.q.prod - 1))).toBe(0x0fc0_2046);
    expect([smmu.cmdq.timeouts, smmu.cmdq.q.cons & 0xffff]).toEqual([0, smmu.cmdq.q.prod]);
  });

  it('recovers from an illegal command as Linux does: the GERROR handler turns it into a CMD_SYNC and the queue moves on', () => {
    const { vm, smmu } = boot();
    const b = new CmdBatch();
    b.tlbi(0x2a, 0, 1); // TLBI_S2_IPA: illegal on a stage-1-only unit
    smmu.cmdq.issue(b, true);
    expect(smmu.cmdq.timeouts).toBe(0);
    expect(smmu.events.messages).toEqual([
      'unexpected global error reported (0x00000001), this could be serious',
      'CMDQ error (cons 0x01000004): Illegal command',
      'skipping command in error state: 0x10000002a 0x0',
    ]);
    expect(r32(vm, 0x60) ^ r32(vm, 0x64)).toBe(0);
    expect(vm.stats.vmExits['irq:arm-smmuv3:gerror']).toBe(1);
  });

  it('reads event records from its event queue when interrupted, writing CONS after each', () => {
    const { vm, g, dev } = boot();
    // F_TRANSLATION (0x10) for SID 0x18; dword 1 RnW (bit 35) | CLASS IN (2 << 40); dword 2 the input address
    smmuV3PropagateEvent(dev, Uint32Array.of(0x10, 0x18, 0, 0x208, 0x1234_5000, 0, 0, 0));
    expect(g.faults).toEqual([
      { sid: 0x18, pasid: -1, addr: 0x1234_5000n, reason: 0x10, reasonName: 'F_TRANSLATION', type: 'read', ipa: 0n, s2: false, class: 'IN', raw: [0x18_0000_0010n, 0x208_0000_0000n, 0x1234_5000n, 0n] },
    ]);
    expect([r32(vm, 0xa8), r32(vm, 0xac)]).toEqual([1, 1]);
    expect(vm.stats.vmExits).toMatchObject({ 'irq:arm-smmuv3:eventq': 1, 'mmio-write:arm-smmuv3:EVENTQ_CONS': 2, 'mmio-read:arm-smmuv3:EVENTQ_PROD': 3 });
  });
});
