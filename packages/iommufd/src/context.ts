// struct iommufd_ctx: the object table of one open /dev/iommu, ID allocation and destruction rules.
import { ErrnoError, type FaultInjector, type Host, type OpenFile } from '@iommu-lab/platform';
import type { IommufdObject, IommufdObjectType } from './object.js';

const RESERVED = Symbol('reserved');
const TOMBSTONE = Symbol('tombstone');
type Slot = IommufdObject | typeof RESERVED | typeof TOMBSTONE;

/** IOPT_PAGES_ACCOUNT_*: how pinned pages are charged (IOMMU_OPTION_RLIMIT_MODE). */
export type AccountMode = 'none' | 'user' | 'mm';

const ID_LIMIT = 2 ** 31 - 1;

/**
 * iommufd_should_fail(): true when the fail-nth count hits this site. The caller picks the errno
 * the kernel returns there (EFAULT for a pin, EINVAL for the xarray, ENOMEM for memory).
 */
export function iommufdShouldFail(faults: FaultInjector, site: string): boolean {
  try {
    faults.check(site);
    return false;
  } catch {
    return true;
  }
}

export class IommufdCtx {
  private readonly objects = new Map<number, Slot>();
  /** RLIMIT mode: 'user' (IOPT_PAGES_ACCOUNT_USER) by default, 'mm' for VFIO compatibility. */
  accountMode: AccountMode = 'user';
  /** The IOAS used by the VFIO compatibility ioctls (IOMMU_VFIO_IOAS). */
  vfioIoas: IommufdObject | null = null;
  /** The open file; objects that need the context alive hold a reference on it. */
  file: OpenFile | null = null;
  readonly faults: FaultInjector;

  constructor(readonly host: Host) {
    this.faults = host.faults;
  }

  /** iommufd_should_fail(): a fault-injection point of iommufd. */
  shouldFail(site: string): boolean {
    return iommufdShouldFail(this.faults, site);
  }

  /** _iommufd_object_alloc: reserves the lowest free ID (from 1) for a new object (its kzalloc can fail). */
  allocId(obj: IommufdObject): void {
    this.faults.check('_iommufd_object_alloc');
    let id = 1;
    while (this.objects.has(id)) id++;
    if (id > ID_LIMIT) throw new ErrnoError('ENOSPC', 'ioctl', 'object IDs exhausted');
    this.objects.set(id, RESERVED);
    obj.id = id;
  }

  /** iommufd_object_finalize: publishes the object under its reserved ID. */
  finalize(obj: IommufdObject): void {
    if (this.objects.get(obj.id) !== RESERVED) throw new Error(`object ${obj.id} was not reserved`);
    this.objects.set(obj.id, obj);
  }

  /** iommufd_object_abort: releases the reserved ID of an object that never got published. */
  abortId(obj: IommufdObject): void {
    if (this.objects.get(obj.id) === RESERVED) this.objects.delete(obj.id);
  }

  /** iommufd_object_abort_and_destroy */
  abortAndDestroy(obj: IommufdObject): void {
    obj.abort();
    this.abortId(obj);
  }

  /** iommufd_get_object: the published object with that ID (and type), else ENOENT. */
  getObject<T extends IommufdObject = IommufdObject>(id: number, type?: IommufdObjectType | readonly IommufdObjectType[]): T {
    if (this.shouldFail('iommufd_get_object')) throw new ErrnoError('ENOENT', 'ioctl', `object ${id} (fail-nth)`);
    const o = this.objects.get(id);
    if (!o || typeof o === 'symbol') throw new ErrnoError('ENOENT', 'ioctl', `no object ${id}`);
    if (type !== undefined && !(typeof type === 'string' ? o.type === type : type.includes(o.type))) {
      throw new ErrnoError('ENOENT', 'ioctl', `object ${id} is a ${o.type}, not ${String(type)}`);
    }
    return o as T;
  }

  /** The published object with that ID of any type, or undefined. */
  peek(id: number): IommufdObject | undefined {
    const o = this.objects.get(id);
    return o && typeof o !== 'symbol' ? o : undefined;
  }

  /** Published objects in ID order. */
  list(type?: IommufdObjectType): IommufdObject[] {
    const out: IommufdObject[] = [];
    for (const id of [...this.objects.keys()].sort((a, b) => a - b)) {
      const o = this.objects.get(id)!;
      if (typeof o !== 'symbol' && (type === undefined || o.type === type)) out.push(o);
    }
    return out;
  }

  /** Every ID in the table, lowest first, with what it holds (read-only inspection, e.g. for leak checks). */
  slots(): { id: number; obj: IommufdObject | 'reserved' | 'tombstone' }[] {
    return [...this.objects.keys()].sort((a, b) => a - b).map((id) => {
      const o = this.objects.get(id)!;
      return { id, obj: o === RESERVED ? 'reserved' : o === TOMBSTONE ? 'tombstone' : o };
    });
  }

  /** True when no object (tombstones aside) is in the table. */
  get empty(): boolean {
    for (const o of this.objects.values()) if (o !== TOMBSTONE) return false;
    return true;
  }

  /**
   * iommufd_object_remove: removes an object whose only user is the table (EBUSY otherwise,
   * ENOENT when absent), optionally leaving a tombstone so its ID is never reused.
   */
  remove(id: number, opts: { tombstone?: boolean; expect?: IommufdObject; wait?: boolean } = {}): void {
    const o = this.objects.get(id);
    if (!o || typeof o === 'symbol' || (opts.expect && o !== opts.expect)) throw new ErrnoError('ENOENT', 'ioctl', `no object ${id}`);
    // REMOVE_WAIT: a kernel user revokes the references it lent out (pre_destroy) before the check.
    if (opts.wait) o.preDestroy();
    if (o.users !== 1) throw new ErrnoError('EBUSY', 'ioctl', `object ${id} (${o.type}) is in use by ${o.users - 1} other user(s)`);
    if (opts.tombstone) this.objects.set(id, TOMBSTONE);
    else this.objects.delete(id);
    if (this.vfioIoas === o) this.vfioIoas = null;
    o.users = 0;
    o.destroy();
  }

  /** iommufd_object_destroy_user: a kernel user drops its reference and the object goes. */
  destroyUser(obj: IommufdObject, tombstone = false): void {
    obj.put();
    this.remove(obj.id, { tombstone, expect: obj, wait: true });
  }

  /** iommufd_fops_release: destroys leaf objects (users == 1) repeatedly until none are left. */
  release(): void {
    for (;;) {
      let destroyed = 0;
      let any = false;
      for (const id of [...this.objects.keys()].sort((a, b) => a - b)) {
        const o = this.objects.get(id);
        if (!o || typeof o === 'symbol') continue;
        any = true;
        if (o.users !== 1) continue;
        this.objects.delete(id);
        o.users = 0;
        o.destroy();
        destroyed++;
      }
      if (!any) break;
      if (destroyed === 0) throw new Error('iommufd: object users counts form a cycle at close');
    }
    this.objects.clear();
  }
}
