import { IOMMU_PGFAULT_FLAGS_LAST_PAGE, IOMMU_PGFAULT_FLAGS_PASID_VALID, IOMMU_PGFAULT_PERM_READ, IOMMU_PGFAULT_PERM_WRITE, iommu_hwpt_page_response } from '@iommu-lab/iommu-core';
import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { Vm } from '../vm/vm.js';
import './index.js';
import { VIRT_SMMU_BASE } from './regs.js';
import type { ArmSmmuV3Device } from './smmuv3.js';

const B = VIRT_SMMU_BASE;
const PRIQ = 0x4000_0000 + 0x40_0000;
const LAST_PASID = IOMMU_PGFAULT_FLAGS_LAST_PAGE | IOMMU_PGFAULT_FLAGS_PASID_VALID;

/** The unit with pri=on and no guest driver: the test programs the PRI queue and plays the fault fd. */
function unit(log2 = 3, enable = true) {
  const v = new Vm(new Host({ memory: 256 * 2 ** 20 }), '-m 128M -M virt -device arm-smmuv3,primary-bus=pcie.0,accel=on,ats=on,pri=on,ssidsize=20');
  const s = v.viommu as ArmSmmuV3Device;
  // One vfio device as accel knows it: iommufd dev_id 7 at the guest's StreamID 0x18.
  s.accel!.devices.set(0x18, { hiod: null!, dev: { vfio: { devId: 7 } } as never, vdevId: 1, s1Hwpt: 2 });
  const responses: { cookie: number; code: number }[] = [];
  (v.vmm as { write: (fd: number, b: Uint8Array) => number }).write = (_fd, b) => {
    responses.push(iommu_hwpt_page_response.decode(b));
    return b.length;
  };
  v.mmio.write(B + 0xc0, 8, BigInt(PRIQ) | BigInt(log2));
  v.mmio.write(B + 0x50, 4, 2n); // IRQ_CTRL.PRIQ_IRQEN
  if (enable) v.mmio.write(B + 0x20, 4, 2n); // CR0.PRIQEN
  const irqs: string[] = [];
  v.onIrq('arm-smmuv3:priq', () => irqs.push('priq'));
  const fault = (over: Partial<{ flags: number; dev_id: number; pasid: number; grpid: number; perm: number; addr: bigint; cookie: number }> = {}) =>
    s.pri!.deliver({ flags: LAST_PASID, dev_id: 7, pasid: 5, grpid: 0x1a5, perm: IOMMU_PGFAULT_PERM_WRITE, __reserved: 0, addr: 0x7f12_3400_0000n, length: 0, cookie: 9, ...over });
  return { v, s, responses, irqs, fault };
}

describe('PRI on the accelerated arm-smmuv3 (pri=on)', () => {
  it("a host fault becomes a PRI record with the guest's StreamID; the guest's CMD_PRI_RESP becomes the page response", () => {
    const { v, s, responses, irqs, fault } = unit();
    fault();
    // SID 0x18 [31:0]; SSID 5 [51:32]; Write 61 | Last 62 | SSV 63. dword 1: PRG index 0x1a5 | the page.
    expect([v.ram.u64(PRIQ), v.ram.u64(PRIQ + 8)]).toEqual([0xe000_0005_0000_0018n, 0x7f12_3400_01a5n]);
    expect(Number(v.mmio.read(B + 0x100c8, 4))).toBe(1);
    expect(irqs).toEqual(['priq']);
    expect(v.stats.vmExits['irq:arm-smmuv3:priq']).toBe(1);
    expect(s.pri!.outstanding).toBe(1);
    // A response for another SubstreamID is not this group's.
    s.pri!.respond(0x18, true, 6, 0x1a5, 2);
    expect(responses).toEqual([]);
    s.pri!.respond(0x18, true, 5, 0x1a5, 2);
    expect(responses).toEqual([{ cookie: 9, code: 0 }]);
    expect(s.pri!.stats).toMatchObject({ read: 1, queued: 1, responses: 1, answered: 0 });
  });

  it('Deny and Fail both go back as INVALID; a page that does not end its group waits for the last one', () => {
    const { v, s, responses, fault } = unit();
    fault({ flags: IOMMU_PGFAULT_FLAGS_PASID_VALID, grpid: 1, perm: IOMMU_PGFAULT_PERM_READ, cookie: 3 });
    // Read 60 only, no Last: 0x1000_0005_0000_0018 | SSV
    expect(v.ram.u64(PRIQ)).toBe(0x9000_0005_0000_0018n);
    fault({ grpid: 1, cookie: 3 });
    s.pri!.respond(0x18, true, 5, 1, 1);
    fault({ grpid: 2, cookie: 4 });
    s.pri!.respond(0x18, true, 5, 2, 0);
    expect(responses).toEqual([
      { cookie: 3, code: 1 },
      { cookie: 4, code: 1 },
    ]);
  });

  it('the unit answers by itself: PRIQEN clear or an unknown device INVALID, overflow SUCCESS with OVFLG toggled once', () => {
    const off = unit(3, false);
    off.fault();
    off.fault({ dev_id: 99, cookie: 10 });
    expect(off.responses).toEqual([
      { cookie: 9, code: 1 },
      { cookie: 10, code: 1 },
    ]);
    const { v, s, responses, fault } = unit(1);
    fault({ grpid: 1, cookie: 1 });
    fault({ grpid: 2, cookie: 2 });
    // Two entries (LOG2SIZE 1): full. The next two are lost, OVFLG (bit 31) toggles once.
    fault({ grpid: 3, cookie: 3 });
    fault({ grpid: 4, cookie: 4, flags: IOMMU_PGFAULT_FLAGS_PASID_VALID });
    expect(Number(v.mmio.read(B + 0xc8, 4)) >>> 0).toBe(0x8000_0002);
    expect(responses).toEqual([{ cookie: 3, code: 0 }]);
    expect(s.pri!.stats).toMatchObject({ queued: 2, lost: 2, answered: 1 });
  });

  it('CMD_PRI_RESP with the reserved Resp 3 is CERROR_ILL', () => {
    const { v } = unit();
    const CMDQ = 0x4000_0000 + 0x10_0000;
    v.mmio.write(B + 0x90, 8, BigInt(CMDQ) | 3n);
    v.mmio.write(B + 0x20, 4, 0xan); // CMDQEN | PRIQEN
    // PRI_RESP 0x41, SID 0x18 [63:32]; dword 1 Resp 3 [13:12]
    v.ram.setU64(CMDQ, 0x0000_0018_0000_0041n);
    v.ram.setU64(CMDQ + 8, 0x3000n);
    v.mmio.write(B + 0x98, 4, 1n);
    expect((Number(v.mmio.read(B + 0x9c, 4)) >>> 24) & 0x7f).toBe(1);
  });
});
