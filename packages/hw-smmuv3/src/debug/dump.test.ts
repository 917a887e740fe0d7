import { IOMMU_CACHE, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_READ, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, IOMMU_WRITE, iommuAttachGroupHandle, iommuDeviceClaimDmaOwner, iommuMap, iommu_hwpt_arm_smmuv3 } from '@iommu-lab/iommu-core';
import { A64PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { DEV_A, FakeViommuCore, MiB, smmuHost, userData } from '../__tests__/host.js';
import { Cd } from '../format/cd.js';
import type { SmmuDomain } from '../driver/domain.js';
import { dumpDomain, dumpStream } from './dump.js';

const RW = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;

describe('dumps', () => {
  it('a stage-1 paging domain: every valid entry, level by level', () => {
    const h = smmuHost();
    const d = h.drv.domainAllocUser(h.dev(DEV_A), 0, null, null) as SmmuDomain;
    iommuMap(d, 0x20_0000, 0x60_0000, 2 * MiB, RW);
    iommuMap(d, 0x1000, 0x30_0000, 4096, IOMMU_READ);
    const text = dumpDomain(d);
    const lines = text.split('\n');
    expect(lines[0]).toBe('S1 paging domain, ASID 1, IAS 48 OAS 48, attached: none');
    // L0[0] and L1[0] tables, L2[0] table (for the page), L2[1] the 2 MiB block, L3[1] the page
    expect(lines.filter((l) => / L0\[0\] .* table IOVA 0x0 /.test(l))).toHaveLength(1);
    // read-only, not cacheable (arm_lpae_prot_to_pte): page type 3 | AP_UNPRIV 0x40 | AP_RDONLY 0x80 | SH_OS 0x200 | AF 0x400 | nG 0x800
    expect(text).toMatch(/ {8}L3\[1\] @0x[0-9a-f]+ 0x0000000000300ec3 page IOVA 0x1000 -> 0x300000 RO EL0 AttrIndx 0 SH 2 AF nG/);
    // read-write cacheable block: type 1 | AttrIndx 1 (0x4) | AP_UNPRIV 0x40 | SH_IS 0x300 | AF 0x400 | nG 0x800
    expect(text).toMatch(/ {6}L2\[1\] @0x[0-9a-f]+ 0x0000000000600f45 block 2 MiB IOVA 0x200000 -> 0x600000 RW EL0 AttrIndx 1 SH 3 AF nG/);
    expect(lines).toHaveLength(1 + 5);
  });

  it('a nested stream: STE, the guest CD at its IPA, stage 1 through stage 2, and stage 2', () => {
    const h = smmuHost();
    const a = h.dev(DEV_A);
    iommuDeviceClaimDmaOwner(a, h);
    const parent = h.drv.domainAllocUser(a, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as SmmuDomain;
    const ram = h.host.frames.alloc(4) * 4096;
    iommuMap(parent, 0x4000_0000, ram, 64 * 1024, RW);
    const core = new FakeViommuCore();
    const viommu = h.drv.viommuAlloc(a, parent, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, null, core);
    core.vdevs.set(1n, a);
    let next = 0x4000_0000 / 4096 + 1;
    const s1 = new A64PageTable({ read64: (ipa, o) => h.host.mem.read64(ipa - 0x4000_0000 + ram, o), write64: (ipa, l, hi) => h.host.mem.write64(ipa - 0x4000_0000 + ram, l, hi) }, () => next++, { stage: 1, inputBits: 48 });
    s1.map(0x5, 0x4000_0000 / 4096 + 8, 3, { write: true, user: true });
    Cd.encode({ t0sz: 16, v: 1, ips: 5, aa64: 1, r: 1, a: 1, asid: 9, epd1: 1, ttb0: BigInt(s1.root * 4096) }).forEach((dw, i) => h.host.mem.setU64(ram + i * 8, dw));
    const nested = h.drv.domainAllocUser(a, 0, viommu, userData(h.proc, IOMMU_HWPT_DATA_ARM_SMMUV3, iommu_hwpt_arm_smmuv3.encode({ ste: [0x4000_000bn, 0n] })));
    iommuAttachGroupHandle(nested, a.group, { domain: nested });
    const text = dumpStream(h.hw, h.host.mem, a.rid);
    expect(text).toContain('stream 0x8: STRTAB_BASE');
    expect(text).toMatch(/L1STD @0x[0-9a-f]+ 0x[0-9a-f]{16} SPAN 9/);
    expect(text).toContain('V 1 Config 7 (nested) EATS 0 MEV 1');
    expect(text).toContain(`VMID ${parent.vmid} S2T0SZ 16 (IPA 48 bits) S2SL0 2 S2PS 48 bits`);
    expect(text).toContain('S1ContextPtr 0x40000000 (IPA) S1CDMax 0 S1DSS 0');
    expect(text).toContain('CD 0 @0x40000000 (IPA)');
    expect(text).toContain('V 1 ASID 0x9 T0SZ 16 TG0 0 IPS 48 bits');
    expect(text).toMatch(/L3\[5\] @0x40004028 0x[0-9a-f]{16} page IOVA 0x5000 -> 0x40008000 RW EL0/);
    expect(text).toMatch(/L3\[8\] @0x[0-9a-f]+ 0x[0-9a-f]{16} page IPA 0x40008000 -> 0x[0-9a-f]+ S2AP RW MemAttr 0xf SH 3 AF/);
    expect(text).toMatch(/stage 2 \(S2TTB 0x[0-9a-f]+, VMID \d+\):/);
  });

  it('an unconfigured stream shows its abort STE', () => {
    const h = smmuHost();
    expect(dumpStream(h.hw, h.host.mem, 0x10)).toContain('V 1 Config 0 (abort)');
  });
});
