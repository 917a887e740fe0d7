import assert from 'node:assert/strict';
import { createHost, formatHostInfo, hostInfo, IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP, VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_BIND_IOMMUFD } from 'iommu-lab';

// The built-in default machine: 0000:01:00.0 behind VT-d (dmar0), 0000:02:00.0 behind SMMUv3 (smmu0).
const host = createHost();
assert.match(formatHostInfo(hostInfo(host)), /0000:01:00\.0 {2}rid 0x0100 {2}iommu dmar0/);

// What a VMM does: bind the VFIO device to an iommufd, map a buffer into an IOAS, attach the device.
const proc = host.spawnProcess();
const dev = proc.open('/dev/vfio/devices/vfio0');
const iommufd = proc.open('/dev/iommu');
proc.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
const ioas = { out_ioas_id: 0 };
proc.ioctl(iommufd, IOMMU_IOAS_ALLOC, ioas);
const buf = proc.mmap(2 * 1024 * 1024); // lazy anonymous memory in the process
proc.ioctl(iommufd, IOMMU_IOAS_MAP, { flags: 7, ioas_id: ioas.out_ioas_id, user_va: buf, length: 2n << 20n, iova: 1n << 30n });
proc.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 12, pt_id: ioas.out_ioas_id });

// The device's DMA goes through VT-d's page tables into the process's buffer.
const pci = host.device('0000:01:00.0');
pci.dmaWrite((1n << 30n) + 16n, new TextEncoder().encode('through VT-d'));
assert.equal(new TextDecoder().decode(proc.memRead(buf + 16n, 12)), 'through VT-d');
assert.throws(() => pci.dmaWrite(2n << 30n, new Uint8Array(8)), /DMA fault/);
