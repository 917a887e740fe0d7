// End to end through the syscall surface: a VFIO device bound to iommufd does DMA through each vendor's IOMMU.
import {
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  IOMMU_DESTROY,
  IOMMU_VDEVICE_ALLOC,
  IOMMU_VIOMMU_ALLOC,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_PASID,
} from '@iommu-lab/iommu-core';
import { type PciDevice, type Process } from '@iommu-lab/platform';
import { IOMMU_HWPT_DATA_SELFTEST, IOMMU_TEST_IOTLB_DEFAULT } from '@iommu-lab/selftest';
import { describe, expect, it } from 'vitest';
import { createHost } from './create-host.js';
import { faults, le64, userBytes } from './__tests__/helpers.js';

const IOVA = 0x100_0000n; // inside every vendor's aperture, including the mock's (MOCK_APERTURE_START)
const LEN = 0x4000;

interface Rig {
  proc: Process;
  pci: PciDevice;
  dev: number;
  fd: number;
  ioas: number;
  idev: number;
  buf: bigint;
}

/** A vendor's nested HWPT over `parent`, and the stage-1 IOVA that reaches the start of the buffer. */
type NestedRecipe = (r: Rig, parent: number) => { hwpt: number; iova: bigint };



const nestedMock: NestedRecipe = (r, parent) => {
  // struct iommu_hwpt_selftest { __u32 iotlb; }
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, IOMMU_TEST_IOTLB_DEFAULT, true);
  const cmd = { dev_id: r.idev, pt_id: parent, out_hwpt_id: 0, data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 4, data_uptr: userBytes(r.proc, data) };
  r.proc.ioctl(r.fd, IOMMU_HWPT_ALLOC, cmd);
  return { hwpt: cmd.out_hwpt_id, iova: IOVA };
};

const nestedSmmu: NestedRecipe = (r, parent) => {
  const viommu = { type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev_id: r.idev, hwpt_id: parent, out_viommu_id: 0 };
  r.proc.ioctl(r.fd, IOMMU_VIOMMU_ALLOC, viommu);
  r.proc.ioctl(r.fd, IOMMU_VDEVICE_ALLOC, { viommu_id: viommu.out_viommu_id, dev_id: r.idev, virt_id: 0x20n });
  // A valid vSTE (bit 0) with Config = 0b100, stage-1 bypass: the guest's IOVA is the IPA.
  const ste = le64(0x9n, 0n);
  const cmd = { dev_id: r.idev, pt_id: viommu.out_viommu_id, out_hwpt_id: 0, data_type: IOMMU_HWPT_DATA_ARM_SMMUV3, data_len: 16, data_uptr: userBytes(r.proc, ste) };
  r.proc.ioctl(r.fd, IOMMU_HWPT_ALLOC, cmd);
  return { hwpt: cmd.out_hwpt_id, iova: IOVA };
};

/** GPAs of the guest's first-stage table pages (PML4, PDPT, PD, PT), mapped in the stage 2 like the buffer. */
const FS_TABLES = 0x200_0000n;
const GUEST_IOVA = 0x4000_0000n;

const nestedVtd: NestedRecipe = (r, parent) => {
  // A 4-level x86-64 first-stage table in "guest memory": GUEST_IOVA -> GPA IOVA (the buffer), 4 pages.
  const tables = r.proc.mmap(4 * 4096);
  const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  r.proc.ioctl(r.fd, IOMMU_IOAS_MAP, { flags, ioas_id: r.ioas, user_va: tables, length: 4n * 4096n, iova: FS_TABLES });
  const entry = (gpa: bigint) => le64(gpa | 0x27n); // P | R/W | U/S | A
  const at = (table: number, index: bigint) => tables + BigInt(table * 4096) + index * 8n;
  r.proc.memWrite(at(0, (GUEST_IOVA >> 39n) & 511n), entry(FS_TABLES + 0x1000n));
  r.proc.memWrite(at(1, (GUEST_IOVA >> 30n) & 511n), entry(FS_TABLES + 0x2000n));
  r.proc.memWrite(at(2, (GUEST_IOVA >> 21n) & 511n), entry(FS_TABLES + 0x3000n));
  for (let i = 0n; i < 4n; i++) r.proc.memWrite(at(3, ((GUEST_IOVA >> 12n) & 511n) + i), le64((IOVA + i * 4096n) | 0x67n)); // + D
  // struct iommu_hwpt_vtd_s1 { __aligned_u64 flags; __aligned_u64 pgtbl_addr; __u32 addr_width; __u32 __reserved; }
  const data = new Uint8Array(24);
  const dv = new DataView(data.buffer);
  dv.setBigUint64(8, FS_TABLES, true);
  dv.setUint32(16, 48, true);
  const cmd = { dev_id: r.idev, pt_id: parent, out_hwpt_id: 0, data_type: IOMMU_HWPT_DATA_VTD_S1, data_len: 24, data_uptr: userBytes(r.proc, data) };
  r.proc.ioctl(r.fd, IOMMU_HWPT_ALLOC, cmd);
  return { hwpt: cmd.out_hwpt_id, iova: GUEST_IOVA };
};

const models: { model: string; nested: NestedRecipe }[] = [
  { model: 'intel-vtd', nested: nestedVtd },
  { model: 'iommufd-mock', nested: nestedMock },
  { model: 'arm-smmuv3', nested: nestedSmmu },
];

function rig(model: string): Rig {
  const host = createHost({ memory: '256M', iommus: [{ id: 'u0', model }], devices: [{ bdf: '0000:03:00.0', iommu: 'u0', pasidBits: 8 }] });
  const pci = host.device('0000:03:00.0');
  const proc = host.spawnProcess();
  const dev = proc.open(pci.cdevPath!);
  const fd = proc.open('/dev/iommu');
  const bind = { argsz: 24, iommufd: fd, out_devid: 0 };
  proc.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, bind);
  const ioas = { out_ioas_id: 0 };
  proc.ioctl(fd, IOMMU_IOAS_ALLOC, ioas);
  const buf = proc.mmap(LEN);
  const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
  proc.ioctl(fd, IOMMU_IOAS_MAP, { flags, ioas_id: ioas.out_ioas_id, user_va: buf, length: BigInt(LEN), iova: IOVA });
  return { proc, pci, dev, fd, ioas: ioas.out_ioas_id, idev: bind.out_devid, buf };
}

/** The device writes at iova; true when the bytes landed in the process buffer at the same offset from `base`. */
function dmaLands(r: Rig, iova: bigint, pasid?: number, base = IOVA): boolean {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  r.pci.dmaWrite(iova, bytes, { pasid });
  return Buffer.from(r.proc.memRead(r.buf + (iova - base), 24)).equals(bytes);
}


describe.each(models)('VFIO device DMA through $model', ({ model, nested }) => {
  it('is blocked before the attach, lands in the buffer once attached to the IOAS, and faults outside it writing nothing', () => {
    const r = rig(model);
    expect(faults(() => r.pci.dmaWrite(IOVA, new Uint8Array(8)))).toBe(true);
    r.proc.ioctl(r.dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 12, pt_id: r.ioas });
    expect(dmaLands(r, IOVA + 0x1010n)).toBe(true);
    // A write that runs past the mapping into unmapped IOVA is refused as a whole: nothing changes.
    const before = r.proc.memRead(r.buf, LEN);
    expect(faults(() => r.pci.dmaWrite(IOVA + BigInt(LEN) - 8n, new Uint8Array(16).fill(0xee)))).toBe(true);
    expect(r.proc.memRead(r.buf, LEN)).toEqual(before);
    expect(faults(() => r.pci.dmaRead(0x4000_0000n, 8))).toBe(true);
  });

  it('follows a paging HWPT, loses access when the IOAS unmaps, and is blocked again after detach and close', () => {
    const r = rig(model);
    const hwpt = { dev_id: r.idev, pt_id: r.ioas, out_hwpt_id: 0, data_type: IOMMU_HWPT_DATA_NONE };
    r.proc.ioctl(r.fd, IOMMU_HWPT_ALLOC, hwpt);
    r.proc.ioctl(r.dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 12, pt_id: hwpt.out_hwpt_id });
    expect(dmaLands(r, IOVA)).toBe(true);
    r.proc.ioctl(r.fd, IOMMU_IOAS_UNMAP, { ioas_id: r.ioas, iova: IOVA, length: BigInt(LEN) });
    expect(faults(() => r.pci.dmaWrite(IOVA, new Uint8Array(8)))).toBe(true);
    r.proc.ioctl(r.fd, IOMMU_IOAS_MAP, { flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE, ioas_id: r.ioas, user_va: r.buf, length: BigInt(LEN), iova: IOVA });
    expect(dmaLands(r, IOVA + 8n)).toBe(true);
    r.proc.ioctl(r.dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 8 });
    expect(faults(() => r.pci.dmaWrite(IOVA, new Uint8Array(8)))).toBe(true);
    r.proc.ioctl(r.dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 12, pt_id: hwpt.out_hwpt_id });
    r.proc.close(r.dev);
    expect(faults(() => r.pci.dmaWrite(IOVA, new Uint8Array(8)))).toBe(true);
    // The device no longer holds the HWPT: it can be destroyed.
    r.proc.ioctl(r.fd, IOMMU_DESTROY, { id: hwpt.out_hwpt_id });
  });

  it('translates through a nested HWPT over a nest-parent stage 2', () => {
    const r = rig(model);
    const parent = { flags: IOMMU_HWPT_ALLOC_NEST_PARENT, dev_id: r.idev, pt_id: r.ioas, out_hwpt_id: 0, data_type: IOMMU_HWPT_DATA_NONE };
    r.proc.ioctl(r.fd, IOMMU_HWPT_ALLOC, parent);
    const n = nested(r, parent.out_hwpt_id);
    r.proc.ioctl(r.dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 12, pt_id: n.hwpt });
    expect(dmaLands(r, n.iova + 0x2000n, undefined, n.iova)).toBe(true);
    expect(faults(() => r.pci.dmaWrite(n.iova + BigInt(LEN), new Uint8Array(8)))).toBe(true);
  });

  it('sends requests with a PASID to the HWPT attached at that PASID only', () => {
    const r = rig(model);
    const hwpt = { flags: IOMMU_HWPT_ALLOC_PASID, dev_id: r.idev, pt_id: r.ioas, out_hwpt_id: 0, data_type: IOMMU_HWPT_DATA_NONE };
    r.proc.ioctl(r.fd, IOMMU_HWPT_ALLOC, hwpt);
    r.proc.ioctl(r.dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pt_id: hwpt.out_hwpt_id, pasid: 5 });
    expect(dmaLands(r, IOVA, 5)).toBe(true);
    expect(faults(() => r.pci.dmaWrite(IOVA, new Uint8Array(8), { pasid: 6 }))).toBe(true);
    expect(faults(() => r.pci.dmaWrite(IOVA, new Uint8Array(8)))).toBe(true);
    r.proc.ioctl(r.dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 12, flags: VFIO_DEVICE_DETACH_PASID, pasid: 5 });
    expect(faults(() => r.pci.dmaWrite(IOVA, new Uint8Array(8), { pasid: 5 }))).toBe(true);
  });
});
