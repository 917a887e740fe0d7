import { describe, expect, it } from 'vitest';
import { parseQemuCommandLine, QemuOptionError } from '../qemu/options.js';
import { smmuV3Config } from './config.js';
import { smmuV3AdoptHostGranules, smmuV3IdRegs } from './idr.js';

const opts = (props: string) => parseQemuCommandLine(['-device', `arm-smmuv3,primary-bus=pcie.0${props ? ',' + props : ''}`]).devices[0]!;

function refusal(text: string): string {
  try {
    smmuV3Config(parseQemuCommandLine(['-device', text]).devices[0]!);
  } catch (e) {
    expect(e).toBeInstanceOf(QemuOptionError);
    return (e as QemuOptionError).reason;
  }
  throw new Error(`accepted: ${text}`);
}

describe('arm-smmuv3 properties (smmuv3_properties, smmu_validate_property)', () => {
  it("takes QEMU's defaults: stage 1, accel off, ril on, ats off, 44-bit OAS, no SubstreamIDs (and pri off)", () => {
    expect(smmuV3Config(opts(''))).toEqual({ stage: '1', accel: false, ril: true, ats: false, pri: false, oas: 44, ssidsize: 0, msiGpa: 0, primaryBus: 'pcie.0' });
    expect(smmuV3Config(opts('accel=on,ril=off,ats=on,oas=48,ssidsize=20,msi-gpa=0x8090000'))).toMatchObject({ accel: true, ril: false, ats: true, oas: 48, ssidsize: 20, msiGpa: 0x809_0000 });
  });

  it('refuses what realize refuses, in its words', () => {
    expect(refusal('arm-smmuv3,accel=on')).toBe('SMMU is not attached to any PCI bus! (add primary-bus=pcie.0)');
    expect(refusal('arm-smmuv3,primary-bus=pcie.1')).toBe("Property 'arm-smmuv3.primary-bus' can't find value 'pcie.1'");
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,ril=off')).toBe('ril can only be disabled if accel=on');
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,ats=on')).toBe('ats can only be enabled if accel=on');
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,pri=on')).toBe('pri can only be enabled if accel=on');
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,accel=on,pri=on')).toBe('pri can only be enabled if ats=on');
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,oas=48')).toBe('OAS must be 44 bits when accel=off');
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,ssidsize=8')).toBe('ssidsize can only be set if accel=on');
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,accel=on,stage=nested')).toBe('Only stage1 is supported for SMMUv3 with accel=on');
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,accel=on,oas=40')).toBe('OAS can only be set to 44 or 48 bits');
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,accel=on,ssidsize=21')).toBe('ssidsize must be in the range 0 to 20');
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,accel=maybe')).toBe("Parameter 'accel' expects 'on' or 'off'");
    expect(refusal('arm-smmuv3,primary-bus=pcie.0,caching-mode=on')).toBe("Property 'arm-smmuv3.caching-mode' not found");
  });
});

describe('arm-smmuv3 ID registers (smmuv3_init_id_regs + accel overrides)', () => {
  it('advertises stage 1 only, AArch64, coherent, 16-bit ASIDs, MSIs, LE, terminate-only, 2-level stream tables', () => {
    const r = smmuV3IdRegs(smmuV3Config(opts('')));
    // IDR0 by hand (IHI0070 6.3.1): S1P bit 1 (0x2) | TTF 2 << 2 (0x8) | COHACC bit 4 (0x10) | ASID16 bit 12 (0x1000) |
    // MSI bit 13 (0x2000) | TTENDIAN 2 << 21 (0x40_0000) | STALL_MODEL 1 << 24 | TERM_MODEL bit 26 | ST_LEVEL 1 << 27 (0xd00_0000)
    expect(r.idr[0]).toBe(0x0d40_301a);
    // IDR1: SIDSIZE 16 | EVENTQS 19 << 16 (0x13_0000) | CMDQS 19 << 21 (0x260_0000)
    expect(r.idr[1]).toBe(0x0273_0010);
    // IDR3: HAD bit 2 | RIL bit 10 | BBML 2 << 11
    expect(r.idr[3]).toBe(0x1404);
    // IDR5: OAS 44 bits (4) | GRAN4K bit 4 | GRAN16K bit 5 | GRAN64K bit 6
    expect(r.idr[5]).toBe(0x74);
    expect([r.idr[2], r.idr[4], r.iidr, r.aidr]).toEqual([0, 0, 0, 1]);
  });

  it('follows ats, ril, oas and ssidsize; with accel the granules become the host IDR5 ones', () => {
    const r = smmuV3IdRegs(smmuV3Config(opts('accel=on,ats=on,ril=off,oas=48,ssidsize=8')));
    expect(r.idr[0]! & 0x400).toBe(0x400); // ATS bit 10
    expect((r.idr[1]! >>> 6) & 0x1f).toBe(8); // SSIDSIZE [10:6]
    expect(r.idr[3]).toBe(0x1004); // RIL gone
    // Host IDR5 0x15 = OAS 48 (5) | GRAN4K: the guest keeps its own OAS (48 = 5) and gets 4K only
    smmuV3AdoptHostGranules(r, 0x15);
    expect(r.idr[5]).toBe(0x15);
  });

  it('pri=on adds IDR0.PRI (bit 16) and IDR1.PRIQS 19 (bits 15:11); off, both stay 0', () => {
    const on = smmuV3IdRegs(smmuV3Config(opts('accel=on,ats=on,pri=on,ssidsize=20')));
    expect(on.idr[0]! & 0x1_0000).toBe(0x1_0000);
    // SIDSIZE 16 | SSIDSIZE 20 << 6 (0x500) | PRIQS 19 << 11 (0x9800) | EVENTQS 19 << 16 | CMDQS 19 << 21
    expect(on.idr[1]).toBe(0x0273_9d10);
    const off = smmuV3IdRegs(smmuV3Config(opts('accel=on,ats=on,ssidsize=20')));
    expect([off.idr[0]! & 0x1_0000, (off.idr[1]! >>> 11) & 0x1f]).toEqual([0, 0]);
  });
});
