// IOMMU_TEST_CMD: the mock driver's ioctl (iommufd_test in drivers/iommu/iommufd/selftest.c).
import {
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID,
  IOMMU_NO_PASID,
  iommuAttachHandleGet,
  iommuReportDeviceFault,
  type IommuDomain,
  type IommuUnit,
} from '@iommu-lab/iommu-core';
import { deviceAttach, deviceDetach, deviceReplace, getDevice, getIoas, type IommufdHwpt, setTempMemoryLimit, type Ucmd } from '@iommu-lab/iommufd';
import { ErrnoError, PAGE_SIZE, type StructCodec, type StructType } from '@iommu-lab/platform';
import { mockDevOf } from '../mock/device.js';
import { MockNestedDomain, MockPagingDomain } from '../mock/domain.js';
import * as T from '../uapi/iommufd-test.js';
import { dmabufGet, dmabufRevoke } from './dmabuf.js';
import { createAccess, staccessGet } from './staccess.js';
import { getSelftestObj, mockDomain } from './stdev.js';

type TestCmd = StructType<typeof T.iommu_test_cmd>;
type U = Ucmd<TestCmd>;

const U64_MAX = (1n << 64n) - 1n;
const SZ_16M = 16 * 1024 * 1024;

function member<K extends keyof TestCmd>(u: U, k: K): NonNullable<TestCmd[K]> {
  return u.cmd[k] as NonNullable<TestCmd[K]>;
}

/** get_md_pagetable: a paging HWPT whose domain is the mock's (ENOENT for another type, EINVAL for another driver). */
function mockPaging(u: U, id: number): MockPagingDomain {
  const hwpt = u.ctx.getObject<IommufdHwpt>(id, 'HWPT_PAGING');
  if (!(hwpt.domain instanceof MockPagingDomain)) throw new ErrnoError('EINVAL', 'ioctl', `HWPT ${id} is not a mock paging domain`);
  return hwpt.domain;
}

function mockNested(u: U, id: number): MockNestedDomain {
  const hwpt = u.ctx.getObject<IommufdHwpt>(id, 'HWPT_NESTED');
  if (!(hwpt.domain instanceof MockNestedDomain)) throw new ErrnoError('EINVAL', 'ioctl', `HWPT ${id} is not a mock nested domain`);
  return hwpt.domain;
}

function addReserved(u: U): void {
  const { start, length } = member(u, 'add_reserved');
  if (!length) throw new ErrnoError('EINVAL', 'ioctl', 'length is 0');
  const last = start! + length - 1n;
  if (last > U64_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'start + length overflows');
  getIoas(u.ctx, u.cmd.id).iopt.reserve(start!, last, null);
}

/** iommufd_test_md_check_pa: every mock page at iova maps the frame under uptr. */
function checkMap(u: U): void {
  const { iova, length, uptr } = member(u, 'check_map');
  const mock = mockPaging(u, u.cmd.id);
  const pg = BigInt(mock.pgsizes[0]!);
  if (iova! % pg || length! % pg || uptr! % pg || uptr! + length! > U64_MAX) throw new ErrnoError('EINVAL', 'ioctl', 'misaligned check');
  for (let off = 0n; off < length!; off += pg) {
    const va = uptr! + off;
    const pfn = u.proc.mm.fault(Number(va - (va % BigInt(PAGE_SIZE))), false);
    const want = pfn * PAGE_SIZE + Number(va % BigInt(PAGE_SIZE));
    if (mock.iovaToPhys(Number(iova! + off)) !== want) throw new ErrnoError('EINVAL', 'ioctl', `IOVA 0x${(iova! + off).toString(16)} does not map the buffer`);
  }
}

/** iommufd_test_md_check_refs: the pin count of each non-compound page of the buffer. */
function checkRefs(u: U): void {
  const { length, uptr, refs } = member(u, 'check_refs');
  const P = BigInt(PAGE_SIZE);
  if (length! % P || uptr! % P || uptr! + length! > U64_MAX) throw new ErrnoError('EINVAL', 'ioctl', 'misaligned check');
  const frames = u.ctx.host.frames;
  for (let off = 0n; off < length!; off += P) {
    const pfn = u.proc.mm.fault(Number(uptr! + off), false);
    if (!frames.isCompound(pfn) && frames.pinCount(pfn) !== refs) {
      throw new ErrnoError('EIO', 'ioctl', `page at 0x${(uptr! + off).toString(16)} has ${frames.pinCount(pfn)} pins, not ${refs}`);
    }
  }
}

function accessPages(u: U): void {
  const a = member(u, 'access_pages');
  if (a.length! > BigInt(SZ_16M)) throw new ErrnoError('ENOMEM', 'ioctl', 'length over 16 MiB');
  if (a.flags! & ~(T.MOCK_FLAGS_ACCESS_WRITE | T.MOCK_FLAGS_ACCESS_SYZ)) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags');
  const s = staccessGet(u.proc, u.cmd.id);
  if (!s.access?.ops?.needsPinPages) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'access was created without NEEDS_PIN_PAGES');
  // The struct page array (kvzalloc: only up to a page can fail, larger ones fall back to vmalloc).
  const P = BigInt(PAGE_SIZE);
  const npages = (a.iova! + a.length! + P - 1n) / P - a.iova! / P;
  if (npages * 8n <= P) u.ctx.faults.check('iommufd_test_access_pages');
  const pfns = s.access.pinPages(a.iova!, a.length!, a.flags! & T.MOCK_FLAGS_ACCESS_WRITE);
  try {
    if (a.uptr) {
      const base = a.uptr - (a.iova! % P);
      for (let i = 0; i < pfns.length; i++) {
        if (u.proc.mm.fault(Number(base + BigInt(i) * P), false) !== pfns[i]) throw new ErrnoError('EBADE', 'ioctl', `page ${i} is not the buffer's`);
      }
    }
    u.ctx.faults.check('iommufd_test_access_pages item');
    const id = s.nextId++;
    s.items.push({ iova: a.iova!, length: a.length!, id });
    a.out_access_pages_id = id;
    try {
      u.respond();
    } catch (e) {
      s.items.pop();
      throw e;
    }
  } catch (e) {
    s.access.unpinPages(a.iova!, a.length!);
    throw e;
  }
}

function accessRw(u: U): void {
  const a = member(u, 'access_rw');
  if (a.length! > BigInt(SZ_16M)) throw new ErrnoError('ENOMEM', 'ioctl', 'length over 16 MiB');
  if (a.flags! & ~(T.MOCK_ACCESS_RW_WRITE | T.MOCK_ACCESS_RW_SLOW_PATH | T.MOCK_FLAGS_ACCESS_SYZ)) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags');
  const s = staccessGet(u.proc, u.cmd.id);
  // kvzalloc(length): only up to a page can fail, larger ones fall back to vmalloc.
  if (a.length! <= BigInt(PAGE_SIZE)) u.ctx.faults.check('iommufd_test_access_rw');
  const write = (a.flags! & T.MOCK_ACCESS_RW_WRITE) !== 0;
  const data = write ? u.proc.memRead(a.uptr!, Number(a.length!)) : new Uint8Array(Number(a.length!));
  s.access!.rw(a.iova!, data, a.flags! & (T.MOCK_ACCESS_RW_WRITE | T.MOCK_ACCESS_RW_SLOW_PATH));
  if (!write) u.proc.memWrite(a.uptr!, data);
}

function destroyAccessPages(u: U): void {
  const s = staccessGet(u.proc, u.cmd.id);
  const id = member(u, 'destroy_access_pages').access_pages_id;
  const i = s.items.findIndex((x) => x.id === id);
  if (i < 0) throw new ErrnoError('ENOENT', 'ioctl', `no access item ${id}`);
  const [item] = s.items.splice(i, 1);
  s.access!.unpinPages(item!.iova, item!.length);
}

/** iommufd_test_dirty: marks the IOPTE of each set bit dirty, as device writes would. */
function dirty(u: U): void {
  const d = member(u, 'dirty');
  const { iova, length, page_size: pageSize, uptr } = d;
  if (!pageSize || !length || iova! % pageSize || length % pageSize || !uptr) throw new ErrnoError('EINVAL', 'ioctl', 'bad dirty range');
  const max = length / pageSize;
  if (max > BigInt(SZ_16M) * 8n) throw new ErrnoError('EOVERFLOW', 'ioctl', 'range too large');
  const mock = mockPaging(u, u.cmd.id);
  if (!mock.dirtyTracking || !mock.dirtyOps) throw new ErrnoError('EINVAL', 'ioctl', 'dirty tracking is off');
  const bitmap = u.proc.memRead(uptr, Number((max + 7n) / 8n));
  let count = 0;
  for (let i = 0; i < Number(max); i++) {
    if (!((bitmap[i >> 3]! >> (i & 7)) & 1)) continue;
    mock.table.setDirty(Number(iova! + BigInt(i) * pageSize));
    count++;
  }
  d.out_nr_dirty = BigInt(count);
  u.respond();
}

function pasidCheckHwpt(u: U): void {
  const { pasid, hwpt_id: hwptId } = member(u, 'pasid_check');
  const sobj = getSelftestObj(u.ctx, u.cmd.id);
  let attached: IommuDomain | null;
  try {
    attached = iommuAttachHandleGet(sobj.dev!.group, pasid!).domain;
  } catch {
    attached = null;
  }
  if (!hwptId) {
    if (attached) throw new ErrnoError('EINVAL', 'ioctl', `PASID ${pasid} is attached`);
    return;
  }
  const pt = u.ctx.getObject<IommufdHwpt>(hwptId);
  if (pt.type !== 'HWPT_NESTED' && pt.type !== 'HWPT_PAGING') throw new ErrnoError('EINVAL', 'ioctl', `object ${hwptId} is not a HWPT`);
  if (attached !== pt.domain) throw new ErrnoError('EINVAL', 'ioctl', `PASID ${pasid} is not attached to HWPT ${hwptId}`);
}

/** The union member each op reads and writes back. */
const OP_MEMBER: Record<number, keyof TestCmd> = {
  [T.IOMMU_TEST_OP_ADD_RESERVED]: 'add_reserved',
  [T.IOMMU_TEST_OP_MOCK_DOMAIN]: 'mock_domain',
  [T.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS]: 'mock_domain_flags',
  [T.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE]: 'mock_domain_replace',
  [T.IOMMU_TEST_OP_MD_CHECK_MAP]: 'check_map',
  [T.IOMMU_TEST_OP_MD_CHECK_REFS]: 'check_refs',
  [T.IOMMU_TEST_OP_MD_CHECK_IOTLB]: 'check_iotlb',
  [T.IOMMU_TEST_OP_DEV_CHECK_CACHE]: 'check_dev_cache',
  [T.IOMMU_TEST_OP_CREATE_ACCESS]: 'create_access',
  [T.IOMMU_TEST_OP_ACCESS_REPLACE_IOAS]: 'access_replace_ioas',
  [T.IOMMU_TEST_OP_ACCESS_PAGES]: 'access_pages',
  [T.IOMMU_TEST_OP_ACCESS_RW]: 'access_rw',
  [T.IOMMU_TEST_OP_DESTROY_ACCESS_PAGES]: 'destroy_access_pages',
  [T.IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT]: 'memory_limit',
  [T.IOMMU_TEST_OP_DIRTY]: 'dirty',
  [T.IOMMU_TEST_OP_TRIGGER_IOPF]: 'trigger_iopf',
  [T.IOMMU_TEST_OP_TRIGGER_VEVENT]: 'trigger_vevent',
  [T.IOMMU_TEST_OP_PASID_ATTACH]: 'pasid_attach',
  [T.IOMMU_TEST_OP_PASID_REPLACE]: 'pasid_replace',
  [T.IOMMU_TEST_OP_PASID_DETACH]: 'pasid_detach',
  [T.IOMMU_TEST_OP_PASID_CHECK_HWPT]: 'pasid_check',
  [T.IOMMU_TEST_OP_DMABUF_GET]: 'dmabuf_get',
  [T.IOMMU_TEST_OP_DMABUF_REVOKE]: 'dmabuf_revoke',
};

/**
 * Decodes the header and only the op's union member: the members overlap, so a response then
 * writes back just that one (and the other members are not decoded for nothing).
 */
export function decodeTestCmd(bytes: Uint8Array): TestCmd {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cmd = { size: dv.getUint32(0, true), op: dv.getUint32(4, true), id: dv.getUint32(8, true), __reserved: dv.getUint32(12, true), last: dv.getUint32(64, true) } as TestCmd;
  const keep = OP_MEMBER[cmd.op];
  if (keep) {
    const spec = T.iommu_test_cmd.fields[keep]!;
    (cmd as Record<string, unknown>)[keep] = (spec[1] as StructCodec<object>).decode(bytes, spec[0]);
  }
  return cmd;
}

/** The IOMMU_TEST_CMD handler for a host whose mock IOMMU unit is `unit`. */
export function iommufdTest(unit: IommuUnit): (u: U) => unknown {
  return (u) => {
    const cmd = u.cmd;
    switch (cmd.op) {
      case T.IOMMU_TEST_OP_ADD_RESERVED:
        return addReserved(u);
      case T.IOMMU_TEST_OP_MOCK_DOMAIN:
      case T.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: {
        const flags = cmd.op === T.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? member(u, 'mock_domain_flags').dev_flags! : 0;
        return mockDomain(u.ctx, unit, cmd.id, flags, ([stdev, hwpt, idev]) => {
          const m = cmd.op === T.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? member(u, 'mock_domain_flags') : member(u, 'mock_domain');
          Object.assign(m, { out_stdev_id: stdev, out_hwpt_id: hwpt, out_idev_id: idev });
          u.respond();
        });
      }
      case T.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: {
        const sobj = getSelftestObj(u.ctx, cmd.id);
        const r = member(u, 'mock_domain_replace');
        r.pt_id = deviceReplace(sobj.idev!, IOMMU_NO_PASID, r.pt_id!);
        return u.respond();
      }
      case T.IOMMU_TEST_OP_MD_CHECK_MAP:
        return checkMap(u);
      case T.IOMMU_TEST_OP_MD_CHECK_REFS:
        return checkRefs(u);
      case T.IOMMU_TEST_OP_MD_CHECK_IOTLB: {
        const { id, iotlb } = member(u, 'check_iotlb');
        const n = mockNested(u, cmd.id);
        if (id! > T.MOCK_NESTED_DOMAIN_IOTLB_ID_MAX || n.iotlb[id!] !== iotlb) throw new ErrnoError('EINVAL', 'ioctl', `iotlb[${id}] mismatch`);
        return;
      }
      case T.IOMMU_TEST_OP_DEV_CHECK_CACHE: {
        const { id, cache } = member(u, 'check_dev_cache');
        const mdev = mockDevOf(getDevice(u.ctx, cmd.id).dev);
        if (id! > T.MOCK_DEV_CACHE_ID_MAX || mdev.cache[id!] !== cache) throw new ErrnoError('EINVAL', 'ioctl', `cache[${id}] mismatch`);
        return;
      }
      case T.IOMMU_TEST_OP_CREATE_ACCESS: {
        const ca = member(u, 'create_access');
        if (ca.flags! & ~T.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags');
        return createAccess(u.ctx, u.proc, cmd.id, (ca.flags! & T.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0, (fd) => {
          ca.out_access_fd = fd;
          u.respond();
        });
      }
      case T.IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
        return staccessGet(u.proc, cmd.id).access!.replace(member(u, 'access_replace_ioas').ioas_id!);
      case T.IOMMU_TEST_OP_ACCESS_PAGES:
        return accessPages(u);
      case T.IOMMU_TEST_OP_ACCESS_RW:
        return accessRw(u);
      case T.IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
        return destroyAccessPages(u);
      case T.IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT: {
        const limit = member(u, 'memory_limit').limit!;
        // It must hold one PFN (u64) and one count (u32) of a batch.
        if (limit < 12) throw new ErrnoError('EINVAL', 'ioctl', `memory limit ${limit}`);
        setTempMemoryLimit(u.ctx.host, limit);
        return;
      }
      case T.IOMMU_TEST_OP_DIRTY:
        return dirty(u);
      case T.IOMMU_TEST_OP_TRIGGER_IOPF: {
        const t = member(u, 'trigger_iopf');
        const idev = getDevice(u.ctx, t.dev_id!);
        const flags = IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE | (t.pasid !== IOMMU_NO_PASID ? IOMMU_FAULT_PAGE_REQUEST_PASID_VALID : 0);
        iommuReportDeviceFault(idev.dev, { flags, pasid: t.pasid!, grpid: t.grpid!, perm: t.perm!, addr: t.addr! });
        return;
      }
      case T.IOMMU_TEST_OP_TRIGGER_VEVENT: {
        const mdev = mockDevOf(getDevice(u.ctx, member(u, 'trigger_vevent').dev_id!).dev);
        if (!mdev.viommu || !mdev.vdevId) throw new ErrnoError('ENOENT', 'ioctl', 'device has no vIOMMU or vDEVICE');
        mdev.viommu.core.reportEvent(T.IOMMU_VEVENTQ_TYPE_SELFTEST, T.iommu_viommu_event_selftest.encode({ virt_id: Number(mdev.vdevId) }));
        return;
      }
      case T.IOMMU_TEST_OP_PASID_ATTACH: {
        const p = member(u, 'pasid_attach');
        const sobj = getSelftestObj(u.ctx, cmd.id);
        p.pt_id = deviceAttach(sobj.idev!, p.pasid!, p.pt_id!);
        try {
          u.respond();
        } catch (e) {
          deviceDetach(sobj.idev!, p.pasid!);
          throw e;
        }
        return;
      }
      case T.IOMMU_TEST_OP_PASID_REPLACE: {
        const p = member(u, 'pasid_replace');
        p.pt_id = deviceReplace(getSelftestObj(u.ctx, cmd.id).idev!, p.pasid!, p.pt_id!);
        return u.respond();
      }
      case T.IOMMU_TEST_OP_PASID_DETACH:
        return deviceDetach(getSelftestObj(u.ctx, cmd.id).idev!, member(u, 'pasid_detach').pasid!);
      case T.IOMMU_TEST_OP_PASID_CHECK_HWPT:
        return pasidCheckHwpt(u);
      case T.IOMMU_TEST_OP_DMABUF_GET:
        return dmabufGet(u.ctx.host, u.proc, member(u, 'dmabuf_get').length!);
      case T.IOMMU_TEST_OP_DMABUF_REVOKE: {
        const r = member(u, 'dmabuf_revoke');
        return dmabufRevoke(u.proc, r.dmabuf_fd!, r.revoked !== 0);
      }
      default:
        throw new ErrnoError('EOPNOTSUPP', 'ioctl', `IOMMU_TEST_CMD op ${cmd.op}`);
    }
  };
}
