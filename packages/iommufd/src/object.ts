// struct iommufd_object: an ID in a context's table with a users refcount (drivers/iommu/iommufd/main.c).

/** enum iommufd_object_type */
export type IommufdObjectType =
  | 'DEVICE'
  | 'HWPT_PAGING'
  | 'HWPT_NESTED'
  | 'IOAS'
  | 'ACCESS'
  | 'FAULT'
  | 'VIOMMU'
  | 'VDEVICE'
  | 'VEVENTQ'
  | 'HW_QUEUE'
  | 'SELFTEST';

/**
 * An object in a context. `users` starts at 1 for the table's reference; every object or
 * attachment that depends on it adds one, so IOMMU_DESTROY succeeds only at exactly 1.
 */
export abstract class IommufdObject {
  id = 0;
  users = 1;
  abstract readonly type: IommufdObjectType;

  /** Releases what the object holds; called once, after it left the table. */
  abstract destroy(): void;

  /** Undo of a half-built object whose creating ioctl failed (defaults to destroy). */
  abort(): void {
    this.destroy();
  }

  /** Called before destroy when the object may still be referenced by a dependent it owns. */
  preDestroy(): void {}

  get(): void {
    this.users++;
  }

  put(): void {
    if (this.users <= 1) throw new Error(`iommufd object ${this.id} (${this.type}): users underflow`);
    this.users--;
  }
}
