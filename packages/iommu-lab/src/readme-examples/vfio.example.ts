import assert from 'node:assert/strict';
import { createArmSmmuV3 } from '@iommu-lab/hw-smmuv3';
import { IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP, IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, iommuSubsystem, VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_BIND_IOMMUFD } from '@iommu-lab/iommu-core';
import { installIommufd } from '@iommu-lab/iommufd';
import { Host } from '@iommu-lab/platform';
import { DSA_COMP_PAGE_FAULT_NOBOF, DSA_COMP_STATUS_WRITE, DSA_COMP_SUCCESS, DSA_OPCODE_MEMMOVE, DsaEngine, installVfio } from '@iommu-lab/vfio';

// One PCI device behind an Arm SMMUv3; iommufd and VFIO installed: /dev/iommu and /dev/vfio/devices/vfio0.
const host = new Host({ memory: 512 * 2 ** 20, devices: [{ bdf: '0000:02:00.0', iommu: 'smmu0' }] });
iommuSubsystem(host).bringUp(createArmSmmuV3(host, 'smmu0'));
installIommufd(host);
installVfio(host);
const pci = host.device('0000:02:00.0');
assert.equal(pci.cdevPath, '/dev/vfio/devices/vfio0');

// What a VMM does: bind the device to an iommufd, map memory into an IOAS, attach the device to it.
const proc = host.spawnProcess();
const dev = proc.open(pci.cdevPath);
const iommufd = proc.open('/dev/iommu');
proc.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
const ioas = { out_ioas_id: 0 };
proc.ioctl(iommufd, IOMMU_IOAS_ALLOC, ioas);
const buf = proc.mmap(2 * 4096);
const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
proc.ioctl(iommufd, IOMMU_IOAS_MAP, { flags, ioas_id: ioas.out_ioas_id, user_va: buf, length: 8192n, iova: 0x10_0000n });
const attach = { argsz: 16, pt_id: ioas.out_ioas_id };
proc.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, attach);
assert.notEqual(attach.pt_id, ioas.out_ioas_id); // the auto HWPT the device was attached to

// The device's DMA engine copies between IOVAs; every byte goes through the SMMU's page tables.
proc.memWrite(buf, new TextEncoder().encode('through the IOMMU'));
const dsa = new DsaEngine(pci);
const move = { pasid: 0, priv: false, flags: 0, opcode: DSA_OPCODE_MEMMOVE, completion_addr: 0n, src_addr: 0x10_0000n, dst_addr: 0x10_1000n, xfer_size: 17 };
assert.equal(dsa.submit(move).status, DSA_COMP_SUCCESS);
assert.equal(new TextDecoder().decode(proc.memRead(buf + 4096n, 17)), 'through the IOMMU');

// An IOVA the IOAS does not map faults: the write is refused and nothing lands anywhere.
const stray = dsa.submit({ ...move, dst_addr: 0x20_0000n });
assert.equal(stray.status, DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE);
assert.equal(stray.fault_addr, 0x20_0000n);

// Closing the device file detaches and unbinds: the device is blocked again.
proc.close(dev);
assert.equal(dsa.submit(move).status, DSA_COMP_PAGE_FAULT_NOBOF);
