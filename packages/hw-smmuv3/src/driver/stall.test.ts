import { IOMMU_PAGE_RESP_SUCCESS, iommuAttachGroupHandle, iommuDeviceClaimDmaOwner, type IopfGroup } from '@iommu-lab/iommu-core';
import { DmaFault } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { DEV_A, smmuHost } from '../__tests__/host.js';

describe('stalls on an SMMU that forces them (STALL_MODEL 2)', () => {
  it('a stage-1 fault is a page request to the domain; the response resumes the stream', () => {
    const h = smmuHost({ stallModel: 2 });
    const a = h.dev(DEV_A);
    iommuDeviceClaimDmaOwner(a, h);
    const d = h.drv.domainAllocUser(a, 0, null, null);
    const groups: IopfGroup[] = [];
    d.iopfHandler = (g) => groups.push(g);
    iommuAttachGroupHandle(d, a.group, { domain: d });
    expect(() => h.host.device(DEV_A).dmaWrite(0x6000n, new Uint8Array(1))).toThrow(DmaFault);
    expect(h.hw.lastFault().recoverable).toBe(true);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.lastFault).toMatchObject({ addr: 0x6000n, grpid: 0, perm: 2 });
    expect(h.hw.stalls.size).toBe(1);
    const resumes = h.hw.cmdq.stats.byOp.RESUME ?? 0;
    groups[0]!.respond(IOMMU_PAGE_RESP_SUCCESS);
    expect(h.hw.cmdq.stats.byOp.RESUME).toBe(resumes + 1);
    expect(h.hw.stalls.size).toBe(0);
  });

  it('without a handler the core answers INVALID and the stall is aborted', () => {
    const h = smmuHost({ stallModel: 2 });
    const a = h.dev(DEV_A);
    iommuDeviceClaimDmaOwner(a, h);
    const d = h.drv.domainAllocUser(a, 0, null, null);
    iommuAttachGroupHandle(d, a.group, { domain: d });
    expect(() => h.host.device(DEV_A).dmaRead(0x6000n, 1)).toThrow(DmaFault);
    expect(h.hw.stalls.size).toBe(0);
    expect(h.hw.cmdq.stats.byOp.RESUME).toBe(1);
  });
});
