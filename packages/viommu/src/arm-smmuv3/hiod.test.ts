import { IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED } from '@iommu-lab/iommu-core';
import { describe, expect, it } from 'vitest';
import { parseQemuCommandLine } from '../qemu/options.js';
import type { HostIommuDevice } from '../vm/viommu-model.js';
import { smmuV3Config } from './config.js';
import { smmuV3CheckHiod } from './hiod.js';
import { smmuV3AdoptHostGranules, smmuV3IdRegs } from './idr.js';

const GiB = 2 ** 30;
/** A host SMMUv3 by hand (IHI0070 6.3): IDR0 S2P|S1P (0x3) | TTF 2 (0x8) | COHACC (0x10) | ASID16 (0x1000) |
 * TTENDIAN 2 (0x40_0000) | ST_LEVEL 1 (0x800_0000); IDR1 SIDSIZE 16 | SSIDSIZE 20 << 6; IDR3 RIL; IDR5 OAS 48 | GRAN4K. */
const HOST = [0x0840_101b, 0x0000_0510, 0, 0x400, 0, 0x15];

/** struct iommu_hw_info_arm_smmuv3: flags, __reserved, idr[6] at 8, iidr, aidr. */
function hwInfo(idr: number[], type = 2, capabilities = 0n): HostIommuDevice['caps'] {
  const data = new Uint8Array(40);
  const dv = new DataView(data.buffer);
  idr.forEach((v, i) => dv.setUint32(8 + 4 * i, v, true));
  return { type, data, capabilities, maxPasidLog2: 20 };
}

function hiod(idr = HOST, over: Partial<HostIommuDevice> = {}): HostIommuDevice {
  return { name: '0000:02:00.0', kind: 'iommufd', dev: null, awBits: 48, caps: hwInfo(idr), guestRid: 0x18, behindBridge: false, ...over };
}

function refusal(props: string, h: HostIommuDevice, ramTop = 2 * GiB): string {
  const regs = smmuV3IdRegs(smmuV3Config(parseQemuCommandLine(['-device', `arm-smmuv3,primary-bus=pcie.0,accel=on${props}`]).devices[0]!));
  smmuV3AdoptHostGranules(regs, HOST[5]!);
  try {
    smmuV3CheckHiod(regs, h, ramTop);
  } catch (e) {
    return (e as Error).message;
  }
  return 'accepted';
}

const withBit = (reg: number, v: number) => HOST.map((x, i) => (i === reg ? v : x));

describe('host compatibility of the accelerated arm-smmuv3 (smmuv3_accel_check_hw_compatible)', () => {
  it('accepts a host that can nest what the guest is offered', () => {
    expect(refusal('', hiod())).toBe('accepted');
  });

  it("refuses with QEMU's words and says which feature is missing on which side", () => {
    expect(refusal('', hiod(HOST, { kind: 'legacy', caps: null }))).toBe(
      'vfio-pci endpoint devices without an iommufd backend not allowed when using arm-smmuv3,accel=on (nesting needs an iommufd vIOMMU; this device is on a legacy VFIO container)',
    );
    expect(refusal('', hiod(HOST, { caps: hwInfo(HOST, 1) }))).toBe('Wrong data type (1) for Host SMMUv3 device info (0000:02:00.0 is not behind an Arm SMMUv3: its stage 1 cannot run the guest\'s SMMUv3 tables)');
    expect(refusal('', hiod(withBit(0, HOST[0]! & ~0x2)))).toMatch(/^Host SMMUv3 has no stage 1 \(host IDR0.S1P = 0/);
    expect(refusal('', hiod(withBit(0, HOST[0]! & ~0x1)))).toMatch(/no stage 2 to be the nesting parent/);
    expect(refusal('', hiod(withBit(0, HOST[0]! & ~0x10)))).toMatch(/^Host SMMUv3 is not coherent \(host IDR0.COHACC = 0/);
    expect(refusal('', hiod(withBit(0, HOST[0]! & ~0x0800_0000)))).toBe('Host SMMUv3 Stream Table format mismatch (host STLEVEL=0, QEMU STLEVEL=1) (the guest is offered 2-level stream tables)');
    expect(refusal('', hiod(withBit(0, (HOST[0]! & ~0x60_0000) | 0x60_0000)))).toMatch(/^Host SMMUv3 doesn't support Little-endian translation table/);
    expect(refusal('', hiod(withBit(1, 0x0000_050c)))).toBe('Host SMMUv3 SIDSIZE not compatible (host=12, QEMU=16) (guest StreamIDs would not fit the host)');
    expect(refusal('', hiod(withBit(3, 0)))).toBe("Host SMMUv3 doesn't support Range Invalidation (host IDR3.RIL = 0 but the guest is offered range TLBIs: use ril=off)");
    expect(refusal(',ril=off', hiod(withBit(3, 0)))).toBe('accepted');
    // Host OAS 40 (2) under a guest offered 44 bits
    expect(refusal('', hiod(withBit(5, 0x12)))).toBe('Host SMMUv3 supports only 40-bit IPA, but the vSMMU OAS implies 44-bit IPA (guest IPAs up to 44 bits would not fit the host stage 2)');
    expect(refusal(',ats=on', hiod())).toBe("Host SMMUv3 doesn't support Address Translation Services (the guest is offered ATS (ats=on))");
    expect(refusal(',ssidsize=20', hiod(withBit(1, 0x10)))).toMatch(/^Host SMMUv3 SSIDSIZE not compatible \(host=0, QEMU=20\)/);
    expect(refusal('', hiod(withBit(0, HOST[0]! & ~0x1000)))).toMatch(/^Host SMMUv3 has 8-bit ASIDs/);
    const atsHost = withBit(0, HOST[0]! | 0x400);
    expect(refusal(',ats=on', hiod(atsHost, { caps: hwInfo(atsHost, 2, IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED) }))).toBe('0000:02:00.0 has no ATS (ats=on offers the guest ATS for a device without it)');
    expect(refusal(',ats=on', hiod(atsHost))).toBe('accepted');
    // PRI: the host's IDR0.PRI (bit 16) must be there for the guest's pri=on.
    expect(refusal(',ats=on,pri=on', hiod(atsHost))).toBe("Host SMMUv3 doesn't support Page Request Interface (the guest is offered PRI (pri=on) and the host has no PRI queue)");
    expect(refusal(',ats=on,pri=on', hiod(withBit(0, atsHost[0]! | 0x1_0000)))).toBe('accepted');
    expect(refusal('', hiod(), 2 ** 44 + GiB)).toBe('guest RAM ends at 0x100040000000 (above the 44-bit output size (oas) the guest\'s stage 1 may point to)');
    expect(refusal('', hiod(HOST, { awBits: 39 }))).toMatch(/^Host IOVA space is 39 bits/);
  });
});
