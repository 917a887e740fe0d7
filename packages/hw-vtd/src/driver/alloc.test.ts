import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  iommu_hw_info_vtd,
  iommu_hwpt_vtd_s1,
  type IommuViommu,
} from '@iommu-lab/iommu-core';
import { describe, expect, it } from 'vitest';
import { NestedDomain } from './domain-nested.js';
import { PagingDomain } from './domain-paging.js';
import { DEV_A, DEV_NOPASID, userData, vtdHost } from './__tests__/host.js';

const errno = (code: string) => expect.objectContaining({ code });

describe('domainAllocUser with no parent: paging domains as intel_iommu_domain_alloc_paging_flags chooses them', () => {
  it('prefers the first stage; NEST_PARENT and DIRTY_TRACKING force the second stage', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const fs = h.unit.ops.domainAllocUser(dev, 0, null, null) as PagingDomain;
    expect([fs.stage, fs.pt.levels, fs.pgsizes]).toEqual(['first', 4, [4096, 2 ** 21, 2 ** 30]]);
    expect(fs.geometry.apertureEnd).toBe((1n << 47n) - 1n);
    expect((h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_PASID, null, null) as PagingDomain).stage).toBe('first');
    const parent = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    expect([parent.stage, parent.nestedParent, parent.pt.levels, parent.geometry.apertureEnd]).toEqual(['second', true, 4, (1n << 48n) - 1n]);
    const dirty = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null, null) as PagingDomain;
    expect([dirty.stage, dirty.dirtyOps !== undefined]).toEqual(['second', true]);
  });

  it('uses 5 levels with a 57-bit unit, and the second stage alone when the first is absent', () => {
    const h = vtdHost({ addressWidth: 57 });
    expect((h.unit.ops.domainAllocUser(h.dev(DEV_A), 0, null, null) as PagingDomain).pt.levels).toBe(5);
    const h2 = vtdHost({ firstStage: false, nesting: false });
    expect((h2.unit.ops.domainAllocUser(h2.dev(DEV_A), 0, null, null) as PagingDomain).stage).toBe('second');
    const h3 = vtdHost({ fs1gp: false });
    expect((h3.unit.ops.domainAllocUser(h3.dev(DEV_A), 0, null, null) as PagingDomain).pgsizes).toEqual([4096, 2 ** 21]);
  });

  it.each([
    ['an unknown flag', {}, 1 << 4, false],
    ['user data without a parent', {}, 0, true],
    ['NEST_PARENT without ECAP.NEST', { nesting: false }, IOMMU_HWPT_ALLOC_NEST_PARENT, false],
    ['DIRTY_TRACKING without SSADS', { ssads: false }, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, false],
    ['NEST_PARENT without a second stage', { secondStage: false, nesting: false }, IOMMU_HWPT_ALLOC_NEST_PARENT, false],
  ])('EOPNOTSUPP for %s', (_n, opts, flags, withData) => {
    const h = vtdHost(opts);
    const data = withData ? userData(h.proc, iommu_hwpt_vtd_s1, {}, IOMMU_HWPT_DATA_VTD_S1) : null;
    expect(() => h.unit.ops.domainAllocUser(h.dev(DEV_A), flags, null, data)).toThrowError(errno('EOPNOTSUPP'));
  });
});

describe('domainAllocUser on a parent: nested domains from struct iommu_hwpt_vtd_s1 (nested.c)', () => {
  it('takes VTD_S1 data from process memory on a second-stage nest parent, unchecked until attach', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const parent = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null) as PagingDomain;
    const data = userData(h.proc, iommu_hwpt_vtd_s1, { flags: 0n, pgtbl_addr: 0x1234_5678n, addr_width: 39 }, IOMMU_HWPT_DATA_VTD_S1);
    const nested = h.unit.ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_PASID, parent, data) as NestedDomain;
    expect(nested).toBeInstanceOf(NestedDomain);
    expect(nested.type).toBe('nested');
    expect(nested.parent).toBe(parent);
    expect(nested.s1).toEqual({ flags: 0n, pgtblAddr: 0x1234_5678n, addrWidth: 39 });
    expect(parent.s1Domains.has(nested)).toBe(true);
    nested.free();
    expect(parent.s1Domains.size).toBe(0);
  });

  it('answers each bad request with nested.c\'s errno', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    const ops = h.unit.ops;
    const parent = ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, null, null);
    const plainSs = ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null, null);
    const fs = ops.domainAllocUser(dev, 0, null, null);
    const good = userData(h.proc, iommu_hwpt_vtd_s1, { addr_width: 48 }, IOMMU_HWPT_DATA_VTD_S1);
    expect(() => ops.domainAllocUser(dev, IOMMU_HWPT_ALLOC_NEST_PARENT, parent, good)).toThrowError(errno('EOPNOTSUPP'));
    expect(() => ops.domainAllocUser(dev, 0, parent, userData(h.proc, iommu_hwpt_vtd_s1, {}, IOMMU_HWPT_DATA_ARM_SMMUV3))).toThrowError(errno('EOPNOTSUPP'));
    expect(() => ops.domainAllocUser(dev, 0, parent, null)).toThrowError(errno('EOPNOTSUPP'));
    expect(() => ops.domainAllocUser(dev, 0, fs, good)).toThrowError(errno('EINVAL'));
    expect(() => ops.domainAllocUser(dev, 0, plainSs, good)).toThrowError(errno('EINVAL'));
    expect(() => ops.domainAllocUser(dev, 0, parent, userData(h.proc, iommu_hwpt_vtd_s1, {}, IOMMU_HWPT_DATA_VTD_S1, 16))).toThrowError(errno('EINVAL'));
    const viommu = { type: 1, unit: h.unit, parent } as unknown as IommuViommu;
    expect(() => ops.domainAllocUser(dev, 0, viommu, good)).toThrowError(errno('EOPNOTSUPP'));
    const h2 = vtdHost({ nesting: false });
    const p2 = h2.unit.ops.domainAllocUser(h2.dev(DEV_A), IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null, null);
    expect(() => h2.unit.ops.domainAllocUser(h2.dev(DEV_A), 0, p2, userData(h2.proc, iommu_hwpt_vtd_s1, {}, IOMMU_HWPT_DATA_VTD_S1))).toThrowError(errno('EOPNOTSUPP'));
  });
});

describe('hwInfo and capable', () => {
  it('returns struct iommu_hw_info_vtd: flags ERRATA_772415_SPR17, cap_reg and ecap_reg as the registers hold them', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    for (const t of [IOMMU_HW_INFO_TYPE_DEFAULT, IOMMU_HW_INFO_TYPE_INTEL_VTD]) {
      const info = h.unit.ops.hwInfo(dev, t);
      expect(info.type).toBe(IOMMU_HW_INFO_TYPE_INTEL_VTD);
      expect(info.data.length).toBe(24);
      // u32 flags = 1 at 0, u32 __reserved = 0 at 4, u64 cap_reg at 8, u64 ecap_reg at 16 (little-endian).
      const dv = new DataView(info.data.buffer, info.data.byteOffset);
      expect([dv.getUint32(0, true), dv.getUint32(4, true), dv.getBigUint64(8, true), dv.getBigUint64(16, true)]).toEqual([1, 0, h.unit.hw.read64(8), h.unit.hw.read64(16)]);
      expect(iommu_hw_info_vtd.decode(info.data)).toEqual({ flags: 1, __reserved: 0, cap_reg: h.unit.hw.cap, ecap_reg: h.unit.hw.ecap });
    }
    expect(() => h.unit.ops.hwInfo(dev, IOMMU_HW_INFO_TYPE_ARM_SMMUV3)).toThrowError(errno('EOPNOTSUPP'));
  });

  it('answers capable() as intel_iommu_capable does', () => {
    const h = vtdHost();
    const dev = h.dev(DEV_A);
    expect(h.unit.ops.capable(dev, 'CACHE_COHERENCY')).toBe(true);
    expect(h.unit.ops.capable(dev, 'ENFORCE_CACHE_COHERENCY')).toBe(true);
    expect(h.unit.ops.capable(dev, 'DIRTY_TRACKING')).toBe(true);
    expect(h.unit.ops.capable(dev, 'PCI_ATS_SUPPORTED')).toBe(false);
    expect(h.unit.ops.capable(h.dev('0000:02:00.0'), 'PCI_ATS_SUPPORTED')).toBe(true);
    expect(h.unit.ops.capable(dev, 'PRE_BOOT_PROTECTION')).toBe(false);
    const h2 = vtdHost({ ssads: false, snoopControl: false });
    expect(h2.unit.ops.capable(h2.dev(DEV_A), 'DIRTY_TRACKING')).toBe(false);
    expect(h2.unit.ops.capable(h2.dev(DEV_A), 'ENFORCE_CACHE_COHERENCY')).toBe(false);
  });
});

describe('probe', () => {
  it('sets maxPasids from the PASID capability and ECAP.PSS, and programs the scalable-mode context entry', () => {
    const h = vtdHost({ pasidBits: 16 });
    expect(h.dev(DEV_A).maxPasids).toBe(2 ** 16);
    expect(h.dev('0000:02:00.0').maxPasids).toBe(2 ** 8);
    expect(h.dev(DEV_NOPASID).maxPasids).toBe(0);
    const iommu = h.unit.iommu;
    const pa = iommu.contextAddr(1, 0, false);
    const lo = h.host.mem.u64(pa);
    // P, PASIDE (bit 3), no DTE; PDTS 7 for 2^20 PASIDs (2^14 directory entries = 2^(7 + 7)).
    expect(lo & 0xfn).toBe(0x9n);
    expect(Number((lo >> 9n) & 7n)).toBe(7);
    // The ATS device gets DTE (bit 2).
    expect(h.host.mem.u64(iommu.contextAddr(2, 0, false)) & 0xfn).toBe(0xdn);
  });
});
