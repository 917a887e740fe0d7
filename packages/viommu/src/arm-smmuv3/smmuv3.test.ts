import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { Vm } from '../vm/vm.js';
import { smmuV3PropagateEvent } from './evtq.js';
import './index.js';
import { VIRT_SMMU_BASE } from './regs.js';
import type { ArmSmmuV3Device } from './smmuv3.js';

const B = VIRT_SMMU_BASE;
const RAM = 0x4000_0000;
/** Where the tests put the command queue (8 entries), the event queue and the MSI target. */
const CMDQ = RAM + 0x10_0000;
const EVTQ = RAM + 0x20_0000;
const MSI = RAM + 0x30_0000;

function vm(props = '') {
  const host = new Host({ memory: 256 * 2 ** 20 });
  const v = new Vm(host, `-m 128M -M virt -device arm-smmuv3,primary-bus=pcie.0${props}`);
  const s = v.viommu as ArmSmmuV3Device;
  const irqs: string[] = [];
  for (const line of ['arm-smmuv3:eventq', 'arm-smmuv3:gerror', 'arm-smmuv3:cmdq-sync']) v.onIrq(line, () => irqs.push(line));
  const r32 = (off: number) => Number(v.mmio.read(B + off, 4));
  const w32 = (off: number, val: number) => v.mmio.write(B + off, 4, BigInt(val >>> 0));
  /** Writes command `i` of the queue: dword 0 and dword 1. */
  const cmd = (i: number, d0: bigint, d1 = 0n) => {
    v.ram.setU64(CMDQ + 16 * i, d0);
    v.ram.setU64(CMDQ + 16 * i + 8, d1);
  };
  return { v, s, irqs, r32, w32, cmd };
}

/** A command queue of 8 entries at CMDQ, enabled, with GERROR interrupts on. */
function withCmdq(props = '') {
  const t = vm(props);
  t.v.mmio.write(B + 0x90, 8, BigInt(CMDQ) | 3n);
  t.w32(0x50, 1); // IRQ_CTRL.GERROR_IRQEN
  t.w32(0x20, 0x8); // CR0.CMDQEN
  return t;
}

describe('the emulated arm-smmuv3 register file', () => {
  it('reads its ID registers, acknowledges CR0 without the RES0 bits, aliases page 1, counts each access as an exit', () => {
    const { v, r32, w32 } = vm();
    expect([0, 4, 0xc, 0x14, 0x1c].map(r32)).toEqual([0x0d40_301a, 0x0273_0010, 0x1404, 0x74, 1]);
    w32(0x20, 0x2d); // SMMUEN | EVTQEN | CMDQEN | bit 5 (RES0)
    expect([r32(0x20), r32(0x24)]).toEqual([0x2d, 0xd]);
    w32(0x100a8, 5); // EVENTQ_PROD in page 1
    expect([r32(0xa8), r32(0x100a8)]).toEqual([5, 5]);
    expect(v.stats.vmExits).toEqual({
      'mmio-read:arm-smmuv3:IDR0': 1,
      'mmio-read:arm-smmuv3:IDR1': 1,
      'mmio-read:arm-smmuv3:IDR3': 1,
      'mmio-read:arm-smmuv3:IDR5': 1,
      'mmio-read:arm-smmuv3:AIDR': 1,
      'mmio-write:arm-smmuv3:CR0': 1,
      'mmio-read:arm-smmuv3:CR0': 1,
      'mmio-read:arm-smmuv3:CR0ACK': 1,
      'mmio-write:arm-smmuv3:EVENTQ_PROD': 1,
      'mmio-read:arm-smmuv3:EVENTQ_PROD': 2,
    });
  });

  it('takes GBPA only with UPDATE, mirrors IRQ_CTRL in its ACK, caps queue sizes at 2^19, keeps 64-bit bases whole', () => {
    const { v, s, r32, w32 } = vm();
    expect(r32(0x44)).toBe(0x1000); // reset: SHCFG incoming, no ABORT
    w32(0x44, 0x10_0000); // ABORT without UPDATE: ignored
    expect(r32(0x44)).toBe(0x1000);
    w32(0x44, 0x8010_0000);
    expect(r32(0x44)).toBe(0x10_0000);
    w32(0x50, 5);
    expect(r32(0x54)).toBe(5);
    v.mmio.write(B + 0x90, 8, 0x4000_0000_1234_5f3fn); // RWA | ADDR 0x12345f20 | LOG2SIZE 31
    expect([s.cmdq.log2size, s.cmdq.addr]).toEqual([19, 0x1234_5f20]);
    expect(v.mmio.read(B + 0x90, 8)).toBe(0x4000_0000_1234_5f3fn);
    v.mmio.write(B + 0x80, 8, 0x4000_0001_0000_0040n);
    expect([r32(0x80), r32(0x84)]).toEqual([0x40, 0x4000_0001]);
  });
});

describe('the command queue, consumed on the CMDQ_PROD exit', () => {
  it('executes every command up to PROD; CMD_SYNC with CS=IRQ writes MSIData to MSIAddr, or pulses the wired line without one', () => {
    const { v, irqs, r32, w32, cmd } = withCmdq();
    v.ram.setU32(MSI, 0xffff_ffff);
    cmd(0, 0x18_0000_0001n); // PREFETCH_CONFIG, SID 0x18
    cmd(1, 0x18_0000_0003n, 1n); // CFGI_STE, SID 0x18, Leaf
    // CMD_SYNC by hand (IHI0070 4.7.3): opcode 0x46 | CS 1 << 12 | MSH 3 << 22 | MSIAttr 0xf << 24 | MSIData 0x1234 << 32; dword 1 MSIAddr
    cmd(2, 0x1234_0fc0_1046n, BigInt(MSI));
    w32(0x98, 3);
    expect(r32(0x9c)).toBe(3);
    expect(v.ram.u32(MSI)).toBe(0x1234);
    expect(irqs).toEqual([]);
    cmd(3, 0x0fc0_1046n); // CS=IRQ without MSIAddr: the wired cmdq-sync interrupt
    cmd(4, 0x0fc0_2046n); // CS=SEV: nothing to see
    w32(0x98, 5);
    expect(irqs).toEqual(['arm-smmuv3:cmdq-sync']);
    expect(v.stats.guestInvalidations).toEqual({ PREFETCH_CONFIG: 1, CFGI_STE: 1, CMD_SYNC: 3 });
    expect(v.stats.vmExits['irq:arm-smmuv3:cmdq-sync']).toBe(1);
  });

  it('wraps around the ring: index and wrap bit advance together', () => {
    const { r32, w32, cmd } = withCmdq();
    for (let i = 0; i < 8; i++) cmd(i, 0x46n);
    w32(0x98, 6);
    expect(r32(0x9c)).toBe(6);
    w32(0x98, 0x8 | 2); // wrap bit [3] set, index 2: 4 more commands (6, 7, 0, 1)
    expect(r32(0x9c)).toBe(0xa);
  });

  it('stops at an illegal command with CMDQ_CONS.ERR = CERROR_ILL and GERROR.CMDQ_ERR until GERRORN acknowledges it', () => {
    const { v, s, irqs, r32, w32, cmd } = withCmdq();
    cmd(0, 0x46n);
    cmd(1, 0x7fn); // no such opcode
    cmd(2, 0x46n);
    w32(0x98, 3);
    // CONS stays at the bad command (index 1); ERR [30:24] = 1
    expect([r32(0x9c), r32(0x60), r32(0x64)]).toEqual([0x0100_0001, 1, 0]);
    expect(irqs).toEqual(['arm-smmuv3:gerror']);
    w32(0x98, 3); // nothing moves while the error is active
    expect(r32(0x9c)).toBe(0x0100_0001);
    // The guest turns the command into a CMD_SYNC (Linux's skip) and acknowledges: the queue drains.
    cmd(1, 0x46n);
    w32(0x64, 1);
    expect([r32(0x9c) & 0xff, r32(0x60) ^ r32(0x64)]).toEqual([3, 0]);
    expect(s.errors).toEqual([]);
    expect(v.stats.guestInvalidations).toEqual({ CMD_SYNC: 3, ILLEGAL: 1 });
  });

  it('refuses SSec on CFGI and stage-2 TLBIs (no stage 2 here); ignores the EL2 and PRI commands QEMU does not implement', () => {
    const ill = (d0: bigint) => {
      const { r32, w32, cmd } = withCmdq();
      cmd(0, d0);
      w32(0x98, 1);
      return r32(0x9c);
    };
    expect(ill(0x403n)).toBe(0x0100_0000); // CFGI_STE with SSec (bit 10)
    expect(ill(0x2an)).toBe(0x0100_0000); // TLBI_S2_IPA
    expect(ill(0x28n)).toBe(0x0100_0000); // TLBI_S12_VMALL
    expect(ill(0x20n)).toBe(1); // TLBI_EL2_ALL: consumed
    expect(ill(0x41n)).toBe(1); // PRI_RESP: consumed
  });

  it('reports a command fetch outside RAM as CERROR_ABT, and an MSI outside RAM as GERROR.MSI_CMDQ_ABT_ERR', () => {
    const a = vm();
    a.v.mmio.write(B + 0x90, 8, 0x1000n | 3n);
    a.w32(0x20, 0x8);
    a.w32(0x98, 1);
    expect([a.r32(0x9c), a.r32(0x60)]).toEqual([0x0200_0000, 1]);
    const b = withCmdq();
    b.cmd(0, 0x1046n, 0x1000n);
    b.w32(0x98, 1);
    expect([b.r32(0x9c), b.r32(0x60)]).toEqual([1, 0x10]);
  });
});

describe('the event queue', () => {
  it('takes records at EVENTQ_PROD and interrupts; a full or disabled queue is GERROR.EVENTQ_ABT_ERR', () => {
    const { v, s, irqs, r32, w32 } = vm();
    const evt = Uint32Array.of(0x10, 0x18, 0, 0x200, 0x7000_8000, 0, 0, 0); // F_TRANSLATION, SID 0x18, CLASS IN, the IOVA
    smmuV3PropagateEvent(s, evt);
    expect(r32(0x60)).toBe(0x4); // EVTQ disabled
    w32(0x64, 0x4);
    v.mmio.write(B + 0xa0, 8, BigInt(EVTQ) | 2n); // 4 entries
    w32(0x50, 0x5); // GERROR_IRQEN | EVTQ_IRQEN
    w32(0x20, 0x4); // EVTQEN
    for (let i = 0; i < 4; i++) smmuV3PropagateEvent(s, evt);
    expect(r32(0xa8)).toBe(0x4); // index 0, wrap bit [2] set: full
    expect([v.ram.u64(EVTQ + 96), v.ram.u64(EVTQ + 104), v.ram.u64(EVTQ + 112)]).toEqual([0x18_0000_0010n, 0x200_0000_0000n, 0x7000_8000n]);
    expect(irqs).toEqual(Array(4).fill('arm-smmuv3:eventq'));
    smmuV3PropagateEvent(s, evt);
    expect([r32(0xa8), r32(0x60) ^ r32(0x64)]).toEqual([0x4, 0x4]);
    expect(irqs.at(-1)).toBe('arm-smmuv3:gerror');
  });
});
