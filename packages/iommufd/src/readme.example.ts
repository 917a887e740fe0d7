import assert from 'node:assert/strict';
import { IOMMU_DESTROY, IOMMU_IOAS_ALLOC, IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_MAP, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_UNMAP } from '@iommu-lab/iommu-core';
import { installIommufd } from '@iommu-lab/iommufd';
import { ErrnoError, Host } from '@iommu-lab/platform';

const host = new Host({ memory: 256 * 2 ** 20 });
installIommufd(host); // registers /dev/iommu
const proc = host.spawnProcess();
const fd = proc.open('/dev/iommu');

// Typed arguments use the kernel's struct and field names (size defaults to sizeof); outputs are written back.
const ioas = { flags: 0, out_ioas_id: 0 };
proc.ioctl(fd, IOMMU_IOAS_ALLOC, ioas);
assert.equal(ioas.out_ioas_id, 1); // object IDs start at 1

// Map 64 KiB of process memory; iommufd picks the IOVA. Without a domain nothing is pinned yet.
const buf = proc.mmap(64 * 1024);
const map = { flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE, ioas_id: ioas.out_ioas_id, user_va: buf, length: 64n * 1024n, iova: 0n };
proc.ioctl(fd, IOMMU_IOAS_MAP, map);
assert.notEqual(map.iova, 0n);
assert.equal(proc.status().VmPin, 0);

// The usable IOVA ranges, read into an array in the process's memory (two u64 per range).
const ranges = proc.mmap(4096);
const r = { ioas_id: ioas.out_ioas_id, num_iovas: 4, out_iova_alignment: 0n, allowed_iovas: ranges };
proc.ioctl(fd, IOMMU_IOAS_IOVA_RANGES, r);
assert.equal(r.num_iovas, 1);

// Unmapping part of an area is ENOENT, exactly as the kernel answers.
assert.throws(() => proc.ioctl(fd, IOMMU_IOAS_UNMAP, { ioas_id: ioas.out_ioas_id, iova: map.iova, length: 4096n }), (e: unknown) => e instanceof ErrnoError && e.code === 'ENOENT');
proc.ioctl(fd, IOMMU_IOAS_UNMAP, { ioas_id: ioas.out_ioas_id, iova: map.iova, length: map.length });
proc.ioctl(fd, IOMMU_DESTROY, { id: ioas.out_ioas_id });
proc.close(fd); // closing the fd releases every object it still holds
