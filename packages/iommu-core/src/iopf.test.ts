import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { ToyDomain, toyOps, toyUnit } from './__tests__/toy-driver.js';
import { iommuAttachDevicePasid } from './attach.js';
import type { IommuPageResponse } from './iopf.js';
import {
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  type IopfGroup,
  iommuReportDeviceFault,
} from './iopf.js';
import { iommuSubsystem } from './subsystem.js';

describe('I/O page faults', () => {
  function setup() {
    const host = new Host({ memory: 16 * 2 ** 20 });
    const responses: IommuPageResponse[] = [];
    const ops = { ...toyOps(), pageResponse: (_d: unknown, _f: unknown, r: IommuPageResponse) => responses.push(r) };
    ops.blockedDomain = toyOps().blockedDomain;
    Object.assign(ops.blockedDomain, { owner: ops });
    const unit = toyUnit('toy0', ops);
    const dev = iommuSubsystem(host).probeDevice('dev-pasid', unit, { rid: 1 });
    return { ops, dev, responses };
  }

  it('deliver a page request group to the handler of the PASID domain on its last page', () => {
    const { ops, dev, responses } = setup();
    const d = new ToyDomain(ops, 'paging', 'sva');
    const got: IopfGroup[] = [];
    d.iopfHandler = (g) => got.push(g);
    iommuAttachDevicePasid(d, dev, 3, { domain: d });
    const pv = IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
    iommuReportDeviceFault(dev, { flags: pv, pasid: 3, grpid: 9, perm: 1, addr: 0x1000n });
    expect(got).toEqual([]);
    iommuReportDeviceFault(dev, { flags: pv | IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE, pasid: 3, grpid: 9, perm: 2, addr: 0x2000n });
    expect(got.length).toBe(1);
    expect(got[0]!.faults.map((f) => f.addr)).toEqual([0x1000n, 0x2000n]);
    got[0]!.respond(IOMMU_PAGE_RESP_SUCCESS);
    got[0]!.respond(IOMMU_PAGE_RESP_SUCCESS);
    expect(responses).toEqual([{ pasid: 3, grpid: 9, code: IOMMU_PAGE_RESP_SUCCESS }]);
  });

  it('answer INVALID when nothing handles the request', () => {
    const { dev, responses } = setup();
    iommuReportDeviceFault(dev, { flags: IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE, pasid: 0, grpid: 1, perm: 1, addr: 0n });
    expect(responses).toEqual([{ pasid: 0, grpid: 1, code: IOMMU_PAGE_RESP_INVALID }]);
  });

  it('answer INVALID at once for each request of a PASID with no handler, even a partial one', () => {
    const { dev, responses } = setup();
    const pv = IOMMU_FAULT_PAGE_REQUEST_PASID_VALID;
    iommuReportDeviceFault(dev, { flags: pv, pasid: 5, grpid: 2, perm: 1, addr: 0x1000n });
    expect(responses).toEqual([{ pasid: 5, grpid: 2, code: IOMMU_PAGE_RESP_INVALID }]);
  });

  it('route a PASID without a handle to a nested RID domain only when the driver takes user PASID tables', () => {
    const { ops, dev, responses } = setup();
    const nested = new ToyDomain(ops, 'nested', 'vste');
    const got: IopfGroup[] = [];
    nested.iopfHandler = (g) => got.push(g);
    dev.group.pasids.set(0, { domain: nested });
    const req = { flags: IOMMU_FAULT_PAGE_REQUEST_PASID_VALID | IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE, pasid: 7, grpid: 1, perm: 1, addr: 0x3000n };
    iommuReportDeviceFault(dev, req);
    expect(got.length).toBe(0);
    expect(responses.length).toBe(1);
    (ops as { userPasidTable?: boolean }).userPasidTable = true;
    iommuReportDeviceFault(dev, req);
    expect(got.map((g) => g.handle?.domain)).toEqual([nested]);
  });
});
