import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_ATTACH_PASID,
  VFIO_DEVICE_BIND_FLAG_TOKEN,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_PASID,
  VFIO_DEVICE_GET_INFO,
  _IO,
  VFIO_TYPE,
  VFIO_BASE,
} from '@iommu-lab/iommu-core';
import { errnoOf as errno, type Host, type Process } from '@iommu-lab/platform';
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeIommufd, fakeHost } from './__tests__/fakes.js';
import { installVfio } from './install.js';


/** The raw bytes of a struct of u32 words (argsz first). */
function words(...w: number[]): Uint8Array {
  const b = new Uint8Array(w.length * 4);
  const v = new DataView(b.buffer);
  w.forEach((x, i) => v.setUint32(i * 4, x >>> 0, true));
  return b;
}

describe('VFIO device cdev', () => {
  let host: Host;
  let fake: FakeIommufd;
  let p: Process;
  let dev: number;
  let iommufd: number;

  beforeEach(() => {
    host = fakeHost();
    fake = new FakeIommufd(host);
    installVfio(host);
    p = host.spawnProcess();
    dev = p.open('/dev/vfio/devices/vfio0');
    iommufd = p.installFile(fake.open());
  });

  it('registers one node per device behind an IOMMU, in spec order, and records it on the PCI device', () => {
    const h = fakeHost(['0000:05:00.0', '0000:01:00.0']);
    installVfio(h);
    expect(h.vfs.list('/dev/vfio/devices')).toEqual(['/dev/vfio/devices/vfio0', '/dev/vfio/devices/vfio1']);
    expect(h.device('0000:05:00.0').cdevPath).toBe('/dev/vfio/devices/vfio0');
    expect(h.device('0000:01:00.0').cdevPath).toBe('/dev/vfio/devices/vfio1');
    expect(host.device('0000:02:00.0').cdevPath).toBe('/dev/vfio/devices/vfio1');
  });

  it('refuses every ioctl but BIND_IOMMUFD before the bind (EINVAL)', () => {
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_GET_INFO, { argsz: 24 }))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 16, pt_id: 1 }))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 12 }))).toBe('EINVAL');
  });

  it('binds, returns the iommufd device ID, and answers GET_INFO as vfio-pci', () => {
    const bind = { argsz: 24, flags: 0, iommufd, out_devid: 0, token_uuid_ptr: 0n };
    expect(p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, bind)).toBe(0);
    expect(bind.out_devid).toBe(1);
    expect(fake.log).toEqual(['bind 0000:01:00.0 -> 1']);
    const info = { argsz: 24, flags: 0, num_regions: 0, num_irqs: 0, cap_offset: 7, pad: 0 };
    p.ioctl(dev, VFIO_DEVICE_GET_INFO, info);
    // VFIO_DEVICE_FLAGS_PCI (1 << 1) | VFIO_DEVICE_FLAGS_RESET (1 << 0); 9 regions (BARs, ROM, config, VGA); 5 IRQ types.
    expect(info).toEqual({ argsz: 24, flags: 3, num_regions: 9, num_irqs: 5, cap_offset: 0, pad: 0 });
  });

  it('GET_INFO copies back only argsz bytes and wants at least offsetofend(num_irqs)', () => {
    p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
    const raw = words(16, 0, 0, 0, 0xaaaa, 0xbbbb);
    p.ioctl(dev, VFIO_DEVICE_GET_INFO, raw);
    expect([...new Uint32Array(raw.buffer)]).toEqual([16, 3, 9, 5, 0xaaaa, 0xbbbb]);
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_GET_INFO, words(15, 0, 0, 0)))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, _IO(VFIO_TYPE, VFIO_BASE + 11), { argsz: 24 }))).toBe('ENOTTY');
  });

  it('checks BIND_IOMMUFD argsz, flags, fd and token like device_cdev.c', () => {
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, words(15, 0, iommufd, 0)))).toBe('EINVAL');
    // A longer struct with a non-zero tail: copy_struct_from_user's E2BIG.
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, words(28, 0, iommufd, 0, 0, 0, 1)))).toBe('E2BIG');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd: -2 }))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, flags: 2, iommufd }))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd: 99 }))).toBe('EBADF');
    const memfd = p.memfdCreate('x');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd: memfd }))).toBe('EBADFD');
    // A VF token for a device that is neither a PF nor a VF; a bad token pointer faults first.
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, flags: VFIO_DEVICE_BIND_FLAG_TOKEN, iommufd, token_uuid_ptr: 0n }))).toBe('EFAULT');
    const uuid = p.mmap(4096);
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, flags: VFIO_DEVICE_BIND_FLAG_TOKEN, iommufd, token_uuid_ptr: uuid }))).toBe('EINVAL');
    expect(fake.log).toEqual([]);
    expect(fake.refs).toBe(0);
  });

  it('refuses a second bind on the same file and a bind of the same device through another file', () => {
    p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd }))).toBe('EINVAL');
    const dev2 = p.open('/dev/vfio/devices/vfio0');
    expect(errno(() => p.ioctl(dev2, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd }))).toBe('EINVAL');
    expect(fake.refs).toBe(1);
    p.close(dev);
    expect(p.ioctl(dev2, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd })).toBe(0);
  });

  it('attaches, then replaces on a second attach, and writes back the pt_id used', () => {
    p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
    const a = { argsz: 12, flags: 0, pt_id: 5 };
    p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, a);
    expect(a.pt_id).toBe(105);
    p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 12, pt_id: 200 });
    expect(fake.log.slice(1)).toEqual(['attach 1 pasid 0 pt 5', 'replace 1 pasid 0 pt 200']);
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 12, pt_id: 0xffffffff }))).toBe('ENOENT');
    p.ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 8 });
    p.ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 8 });
    expect(fake.log.slice(3)).toEqual(['detach 1 pasid 0']);
  });

  it('checks ATTACH/DETACH argsz and flags, and needs argsz to cover pasid with the PASID flag', () => {
    p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, words(11, 0, 5)))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, words(12, 2, 5)))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, words(12, VFIO_DEVICE_ATTACH_PASID, 5, 7)))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, words(7, 0)))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, words(8, 4)))).toBe('EINVAL');
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, words(8, VFIO_DEVICE_DETACH_PASID)))).toBe('EINVAL');
    // Only the fixed part is read without the flag: a short buffer of exactly minsz works.
    expect(p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, words(12, 0, 5))).toBe(0);
    expect(fake.log.slice(1)).toEqual(['attach 1 pasid 0 pt 5']);
  });

  it('attaches PASIDs (replace on the second time) and detaches PASIDs, then the RID, before unbinding at close', () => {
    p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
    p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pt_id: 300, pasid: 9 });
    p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pt_id: 301, pasid: 9 });
    p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pt_id: 302, pasid: 3 });
    p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 12, pt_id: 7 });
    // A detach of a PASID that was never attached is a no-op.
    p.ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, { argsz: 12, flags: VFIO_DEVICE_DETACH_PASID, pasid: 4 });
    p.close(dev);
    expect(fake.log.slice(1)).toEqual([
      'attach 1 pasid 9 pt 300',
      'replace 1 pasid 9 pt 301',
      'attach 1 pasid 3 pt 302',
      'attach 1 pasid 0 pt 7',
      'detach 1 pasid 3',
      'detach 1 pasid 9',
      'detach 1 pasid 0',
      'unbind 1',
    ]);
    expect(fake.refs).toBe(0);
  });

  it('a failed PASID attach leaves the PASID unrecorded', () => {
    p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
    expect(errno(() => p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pt_id: 5000, pasid: 2 }))).toBe('ENOENT');
    p.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, { argsz: 16, flags: VFIO_DEVICE_ATTACH_PASID, pt_id: 301, pasid: 2 });
    expect(fake.log.slice(1)).toEqual(['attach 1 pasid 2 pt 301']);
  });

  it('keeps the iommufd alive while a bound device holds it', () => {
    p.ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, { argsz: 24, iommufd });
    const file = p.file(iommufd);
    p.close(iommufd);
    expect(file.isReleased).toBe(false);
    p.close(dev);
    expect(file.isReleased).toBe(true);
  });
});
