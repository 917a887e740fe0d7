import { describe, expect, it } from 'vitest';
import { IoasidAllocator } from './allocator.js';
import { errnoOf } from '@iommu-lab/platform';
import { INVALID_IOASID, type IoasidAllocatorOps } from './types.js';

/** A vIOMMU of a guest: its virtual command interface reaches the host's allocator. */
interface Viommu {
  name: string;
  log: string[];
}

/** A host with one VM's set, and the guest's vcmd helpers (shared by every vIOMMU of the VM). */
function vm(hostQuota = 8) {
  const host = new IoasidAllocator();
  const vmSet = host.allocSet({ quota: hostQuota });
  const alloc = (min: number, max: number, pdata: unknown): number => {
    const v = pdata as Viommu;
    v.log.push(`alloc ${min}-${max}`);
    try {
      return host.alloc(vmSet, min, max, v.name);
    } catch {
      return INVALID_IOASID;
    }
  };
  const free = (id: number, pdata: unknown): void => {
    (pdata as Viommu).log.push(`free ${id}`);
    host.free(vmSet, id);
  };
  const viommu = (name: string): IoasidAllocatorOps & { pdata: Viommu } => ({ alloc, free, pdata: { name, log: [] } });
  const guest = new IoasidAllocator();
  const gset = guest.allocSet({ quota: 64 });
  return { host, vmSet, guest, gset, viommu };
}

describe('custom allocators', () => {
  it('take over from the default allocator and hand out the host IDs', () => {
    const { host, vmSet, guest, gset, viommu } = vm();
    host.alloc(host.allocSet({ quota: 4 }), 1, 10); // the host itself already uses PASID 1
    const v0 = viommu('viommu0');
    guest.registerAllocator(v0);
    expect(guest.activeAllocator).toBe(v0);
    expect(guest.alloc(gset, 1, 0xf_ffff, 'guest svm')).toBe(2);
    expect(v0.pdata.log).toEqual(['alloc 1-1048575']);
    expect(host.find(vmSet, 2)).toBe('viommu0');
    expect(guest.find(gset, 2)).toBe('guest svm');
  });

  it('free IDs through the allocator that handed them out, on free and on the last put', () => {
    const { host, guest, gset, viommu } = vm();
    const v0 = viommu('viommu0');
    guest.registerAllocator(v0);
    const a = guest.alloc(gset, 1, 100);
    const b = guest.alloc(gset, 1, 100);
    guest.free(gset, a);
    expect(v0.pdata.log).toEqual(['alloc 1-100', 'alloc 1-100', `free ${a}`]);
    guest.get(gset, b);
    guest.put(gset, b);
    expect(v0.pdata.log).toHaveLength(3);
    expect(guest.put(gset, b)).toBe(true);
    expect(v0.pdata.log.slice(3)).toEqual([`free ${b}`]);
    expect(host.size).toBe(0);
  });

  it('are refused with EAGAIN while the default allocator has IDs outstanding', () => {
    const { guest, gset, viommu } = vm();
    const id = guest.alloc(gset, 1, 10);
    const v0 = viommu('viommu0');
    expect(errnoOf(() => guest.registerAllocator(v0))).toBe('EAGAIN');
    expect(guest.activeAllocator).toBeNull();
    guest.free(gset, id);
    guest.registerAllocator(v0);
    expect(guest.activeAllocator).toBe(v0);
  });

  it('share one allocator when several vIOMMUs of a VM register the same helpers', () => {
    const { host, guest, gset, viommu } = vm();
    const v0 = viommu('viommu0');
    const v1 = viommu('viommu1');
    guest.registerAllocator(v0);
    guest.registerAllocator(v1);
    expect(guest.activeAllocator).toBe(v0);
    const id = guest.alloc(gset, 1, 100);
    // viommu0 goes (hot-unplug): its IDs stay, and viommu1 now carries the allocator.
    guest.unregisterAllocator(v0);
    expect(guest.activeAllocator).toBe(v1);
    expect(guest.find(gset, id)).toBeUndefined();
    guest.free(gset, id);
    expect(v1.pdata.log).toEqual([`free ${id}`]);
    expect(host.size).toBe(0);
    guest.unregisterAllocator(v1);
    expect(guest.activeAllocator).toBeNull();
    expect(guest.alloc(gset, 1, 100)).toBe(1);
  });

  it('refuse the same ops twice with EEXIST, whether first or sharer', () => {
    const { guest, viommu } = vm();
    const v0 = viommu('viommu0');
    const v1 = viommu('viommu1');
    guest.registerAllocator(v0);
    guest.registerAllocator(v1);
    expect(errnoOf(() => guest.registerAllocator(v0))).toBe('EEXIST');
    expect(errnoOf(() => guest.registerAllocator(v1))).toBe('EEXIST');
    guest.unregisterAllocator(v1);
    guest.unregisterAllocator(v0);
    expect(guest.activeAllocator).toBeNull();
  });

  it('with other helpers queue behind the active one and take over when it goes', () => {
    const { guest, gset, viommu } = vm();
    const v0 = viommu('viommu0');
    const log: string[] = [];
    const other: IoasidAllocatorOps = {
      alloc: (min) => (log.push('other'), min + 500),
      free: (id) => log.push(`other free ${id}`),
    };
    const third: IoasidAllocatorOps = { alloc: () => 7, free: () => undefined };
    guest.registerAllocator(v0);
    guest.registerAllocator(other);
    guest.registerAllocator(third);
    expect(guest.activeAllocator).toBe(v0);
    guest.unregisterAllocator(third);
    expect(guest.activeAllocator).toBe(v0);
    guest.unregisterAllocator(v0);
    expect(guest.activeAllocator).toBe(other);
    const id = guest.alloc(gset, 1, 1000);
    expect(id).toBe(501);
    guest.free(gset, id);
    expect(log).toEqual(['other', 'other free 501']);
  });

  it('cannot all go while the allocator has IDs outstanding (EBUSY), and state stays', () => {
    const { guest, gset, viommu } = vm();
    const v0 = viommu('viommu0');
    guest.registerAllocator(v0);
    const id = guest.alloc(gset, 1, 100);
    expect(errnoOf(() => guest.unregisterAllocator(v0))).toBe('EBUSY');
    expect(guest.activeAllocator).toBe(v0);
    expect(guest.find(gset, id)).toBeUndefined();
    guest.free(gset, id);
    guest.unregisterAllocator(v0);
    expect(guest.activeAllocator).toBeNull();
  });

  it('refuse unknown ops (ENOENT) and ops without helpers (EINVAL)', () => {
    const { guest, viommu } = vm();
    expect(errnoOf(() => guest.unregisterAllocator(viommu('nobody')))).toBe('ENOENT');
    expect(errnoOf(() => guest.registerAllocator({ alloc: () => 1 } as unknown as IoasidAllocatorOps))).toBe('EINVAL');
  });

  it('answering INVALID_IOASID is ENOSPC, and the guest quota still applies', () => {
    const { guest, viommu } = vm(2);
    guest.registerAllocator(viommu('viommu0'));
    const small = guest.allocSet({ quota: 3 });
    guest.alloc(small, 1, 100);
    guest.alloc(small, 1, 100);
    // The host's quota for this VM (2) is reached first.
    expect(errnoOf(() => guest.alloc(small, 1, 100))).toBe('ENOSPC');
    expect(small.size).toBe(2);
  });

  it('a bad answer is refused with ENOSPC and leaves everything as it was', () => {
    const a = new IoasidAllocator();
    const s = a.allocSet({ quota: 8 });
    let answer: number | (() => number) = 3;
    const freed: number[] = [];
    const ops: IoasidAllocatorOps = {
      alloc: () => (typeof answer === 'function' ? answer() : answer),
      free: (id) => freed.push(id),
    };
    a.registerAllocator(ops);
    expect(a.alloc(s, 1, 10)).toBe(3);
    // The same live ID again: refused, and not freed behind its owner's back.
    expect(errnoOf(() => a.alloc(s, 1, 10))).toBe('ENOSPC');
    expect(freed).toEqual([]);
    // Outside [min, max]: handed back to the allocator.
    answer = 11;
    expect(errnoOf(() => a.alloc(s, 1, 10))).toBe('ENOSPC');
    expect(freed).toEqual([11]);
    answer = 2.5;
    expect(errnoOf(() => a.alloc(s, 1, 10))).toBe('ENOSPC');
    answer = () => {
      throw new Error('vcmd timeout');
    };
    expect(() => a.alloc(s, 1, 10)).toThrow('vcmd timeout');
    expect(s.ids()).toEqual([3]);
    expect(a.size).toBe(1);
  });
});
