import type { IommuDomain, IopfGroup } from '@iommu-lab/iommu-core';
import { Host, OpenFile, pollWaitAdd } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { IommufdCtx } from './context.js';
import { IommufdFault } from './fault.js';

describe('FAULT queue wake-up (iommufd_fault_iopf_handler)', () => {
  it('wakes the process polling the fault fd once the group is queued, as wake_up_interruptible does', () => {
    const fault = new IommufdFault(new IommufdCtx(new Host({ memory: 2 ** 21 })));
    fault.file = new OpenFile({ name: '[iommufd-pgfault]' }, fault, 'anon_inode:[iommufd-pgfault]');
    const seen: number[] = [];
    pollWaitAdd(fault.file, () => seen.push(fault.deliver.length));
    const group = { dev: { group: { pasids: new Map() } }, handle: null, faults: [], lastFault: { flags: 0, pasid: 0 } } as unknown as IopfGroup;
    fault.handler({} as IommuDomain)(group);
    // The waiter ran inside the handler, with the group already readable.
    expect(seen).toEqual([1]);
    expect(fault.pending).toBe(true);
  });
});
