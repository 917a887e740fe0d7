// IOMMU_FAULT_QUEUE_ALLOC: page requests delivered to user space and answered through a file (eventq.c).
import {
  type IommuAttachHandle,
  type IommuDomain,
  iommu_fault_alloc,
  iommu_hwpt_page_response,
  iommu_hwpt_pgfault,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  type IopfGroup,
} from '@iommu-lab/iommu-core';
import { ErrnoError, type OpenFile, type StructType, wakeUp } from '@iommu-lab/platform';
import type { IommufdAttachHandle } from './device.js';
import { checkWholeRecords, eventqFops, eventqInstall, IommufdEventq } from './eventq.js';
import type { HwptFault } from './hw-pagetable.js';
import type { FaultObject } from './hwpt-ioctl.js';
import type { Ucmd } from './ucmd.js';

const COOKIE_MAX = 0xffff_ffff;

export class IommufdFault extends IommufdEventq implements FaultObject, HwptFault {
  readonly type = 'FAULT';
  /** fault->common.deliver: groups not yet read. */
  readonly deliver: IopfGroup[] = [];
  /** fault->response: groups read and awaiting an answer, by cookie. */
  readonly response = new Map<number, IopfGroup>();

  get fault(): HwptFault {
    return this;
  }

  get obj(): IommufdFault {
    return this;
  }

  get pending(): boolean {
    return this.deliver.length > 0;
  }

  /** iommufd_fault_iopf_handler */
  handler(_domain: IommuDomain): (group: IopfGroup) => void {
    return (group) => {
      this.deliver.push(group);
      wakeUp(this.file);
    };
  }

  /** iommufd_auto_response_faults: groups that came through the handle going away are answered INVALID. */
  autoRespond(handle: IommuAttachHandle): void {
    const mine = (g: IopfGroup): boolean => g.handle === handle;
    for (let i = this.deliver.length - 1; i >= 0; i--) {
      const g = this.deliver[i]!;
      if (!mine(g)) continue;
      this.deliver.splice(i, 1);
      g.respond(IOMMU_PAGE_RESP_INVALID);
    }
    for (const [cookie, g] of [...this.response]) {
      if (!mine(g)) continue;
      this.response.delete(cookie);
      g.respond(IOMMU_PAGE_RESP_INVALID);
    }
  }

  destroy(): void {
    for (const g of this.deliver.splice(0)) g.respond(IOMMU_PAGE_RESP_INVALID);
    for (const g of this.response.values()) g.respond(IOMMU_PAGE_RESP_INVALID);
    this.response.clear();
  }

  private allocCookie(): number {
    for (let c = 1; c <= COOKIE_MAX; c++) if (!this.response.has(c)) return c;
    throw new ErrnoError('EBUSY', 'read', 'fault cookies exhausted');
  }

  /** iommufd_fault_fops_read: whole groups only; EINVAL when the first group does not fit. */
  read(count: number): Uint8Array {
    const size = iommu_hwpt_pgfault.size;
    checkWholeRecords(count, size);
    const out: Uint8Array[] = [];
    let done = 0;
    while (this.deliver.length) {
      const group = this.deliver[0]!;
      if (group.faults.length * size > count - done) {
        if (done === 0) throw new ErrnoError('EINVAL', 'read', `a group of ${group.faults.length} faults does not fit ${count} bytes`);
        break;
      }
      this.deliver.shift();
      group.cookie = this.allocCookie();
      this.response.set(group.cookie, group);
      const idev = (group.handle as IommufdAttachHandle).idev;
      for (const f of group.faults) {
        out.push(iommu_hwpt_pgfault.encode({ flags: f.flags, dev_id: idev.id, pasid: f.pasid, grpid: f.grpid, perm: f.perm, __reserved: 0, addr: f.addr, length: 0, cookie: group.cookie }));
        done += size;
      }
    }
    const buf = new Uint8Array(done);
    let off = 0;
    for (const b of out) {
      buf.set(b, off);
      off += b.length;
    }
    return buf;
  }

  /** iommufd_fault_fops_write: answers in order; stops at the first bad response, EINVAL if it is the first. */
  write(bytes: Uint8Array): number {
    const size = iommu_hwpt_page_response.size;
    checkWholeRecords(bytes.length, size);
    let done = 0;
    while (done < bytes.length) {
      const r = iommu_hwpt_page_response.decode(bytes.subarray(done, done + size));
      const group = r.code === IOMMU_PAGE_RESP_SUCCESS || r.code === IOMMU_PAGE_RESP_INVALID ? this.response.get(r.cookie) : undefined;
      if (!group) {
        if (done === 0) throw new ErrnoError('EINVAL', 'write', `response code ${r.code} or cookie ${r.cookie}`);
        break;
      }
      this.response.delete(r.cookie);
      group.respond(r.code);
      done += size;
    }
    return done;
  }
}

const faultFops = eventqFops(
  '[iommufd-pgfault]',
  (file: OpenFile, length: number) => (file.priv as IommufdFault).read(length),
  (file: OpenFile, bytes: Uint8Array) => (file.priv as IommufdFault).write(bytes),
);

export function ioctlFaultQueueAlloc(ucmd: Ucmd<StructType<typeof iommu_fault_alloc>>): void {
  const cmd = ucmd.cmd;
  if (cmd.flags) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags');
  const fault = new IommufdFault(ucmd.ctx);
  ucmd.ctx.allocId(fault);
  ucmd.newObj = fault;
  eventqInstall(fault, ucmd.proc, 'anon_inode:[iommufd-pgfault]', faultFops, (fd) => {
    cmd.out_fault_id = fault.id;
    cmd.out_fault_fd = fd;
    ucmd.respond();
  });
}
