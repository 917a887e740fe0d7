import assert from 'node:assert/strict';
import { Host } from '@iommu-lab/platform';
import { INVALID_IOASID, IOASID_PRIO_IOMMU, IoasidAllocator, type IoasidAllocatorOps, ioasidAllocator } from '@iommu-lab/ioasid';

// The host's system-wide PASID space (20 bits), created on first use.
const host = new Host({ memory: 64 * 2 ** 20 });
const ioasid = ioasidAllocator(host);

// hw-vtd: host SVA PASIDs come from the driver's own set; PASID 0 is RID2PASID, so ask from 1.
const svaSet = ioasid.allocSet({ quota: 1024 });
const pasidTable = new Map<number, string>();
ioasid.registerNotifier((ev) => pasidTable.delete(ev.id), { priority: IOASID_PRIO_IOMMU });
const pasid = ioasid.alloc(svaSet, 1, 2 ** 20 - 1, { mm: 1000 });
pasidTable.set(pasid, 'first-stage table of pid 1000');
assert.equal(pasid, 1);
const isSva = (p: unknown): p is { mm: number } => typeof p === 'object' && p !== null && 'mm' in p;
assert.deepEqual(ioasid.find(svaSet, pasid, isSva), { mm: 1000 });

// The VMM: one set per VM, whose quota bounds the PASIDs its guest can take.
const vm = { name: 'vm0' };
const vmSet = ioasid.allocSet({ quota: 2, token: vm });
assert.throws(() => ioasid.find(vmSet, pasid), { code: 'EACCES' });

// The guest kernel has its own allocator. Each vIOMMU registers the virtual-command helpers,
// which trap to the VMM; the VMM allocates from the VM's set on the host.
const vcmdAlloc = (min: number, max: number): number => {
  try {
    return ioasid.alloc(vmSet, min, max, vm);
  } catch {
    return INVALID_IOASID; // VCMD status "no PASID available"
  }
};
const vcmdFree = (id: number): void => ioasid.free(vmSet, id);
const viommu0: IoasidAllocatorOps = { alloc: vcmdAlloc, free: vcmdFree, pdata: 'viommu0' };
const viommu1: IoasidAllocatorOps = { alloc: vcmdAlloc, free: vcmdFree, pdata: 'viommu1' };
const guest = new IoasidAllocator();
guest.registerAllocator(viommu0);
guest.registerAllocator(viommu1); // same helpers: one allocator for the whole VM
assert.equal(guest.activeAllocator, viommu0);

const gset = guest.allocSet({ quota: 64 });
const a = guest.alloc(gset, 1, 2 ** 20 - 1, 'guest process A');
const b = guest.alloc(gset, 1, 2 ** 20 - 1, 'guest process B');
assert.deepEqual([a, b], [2, 3]); // system-wide: the host already holds PASID 1
assert.throws(() => guest.alloc(gset, 1, 2 ** 20 - 1), { code: 'ENOSPC' }); // the VM's quota of 2

// Freeing in the guest goes back through the vIOMMU to the host, which notifies its users.
const hostFreed: number[] = [];
ioasid.registerNotifier((ev) => hostFreed.push(ev.id), { set: vmSet });
guest.free(gset, a);
assert.deepEqual(hostFreed, [2]);
assert.equal(vmSet.size, 1);

// A reference keeps a PASID allocated past its free; the last put gives it back.
ioasid.get(svaSet, pasid);
ioasid.free(svaSet, pasid);
assert.equal(pasidTable.has(pasid), false); // hw-vtd dropped its state on the notification
assert.throws(() => ioasid.get(svaSet, pasid), { code: 'EBUSY' });
assert.equal(ioasid.put(svaSet, pasid), true);
assert.throws(() => ioasid.find(null, pasid), { code: 'ENOENT' });

// Tearing the VM down: free its PASIDs, then the allocators and the set can go.
guest.freeAllInSet(gset);
guest.unregisterAllocator(viommu0);
guest.unregisterAllocator(viommu1);
assert.equal(guest.activeAllocator, null);
ioasid.freeSet(vmSet);
assert.equal(ioasid.available, 2 ** 20 - 1024);
