// struct iommufd_ucmd: one ioctl in flight, its decoded struct and the way results go back to user space.
import type { Process, StructCodec, UserArg } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import { offsetofend } from './ioctl-table.js';
import type { IommufdObject } from './object.js';

export class Ucmd<T extends object = Record<string, unknown>> {
  /** An object allocated for this ioctl: finalized on success, aborted on failure (new_obj). */
  newObj: IommufdObject | null = null;

  constructor(
    readonly ctx: IommufdCtx,
    readonly proc: Process,
    readonly user: UserArg,
    /** The size the caller declared (the struct's first u32). */
    readonly userSize: number,
    readonly codec: StructCodec<T>,
    public cmd: T,
  ) {}

  /** iommufd_ucmd_respond: copies the struct back, min(user size, sizeof) bytes; EFAULT on a bad buffer. */
  respond(): void {
    const bytes = this.codec.encode(this.cmd);
    this.user.write(0, bytes.subarray(0, Math.min(this.userSize, this.codec.size)));
  }

  /** Copies back a single field, as handlers that write one output do (copy_to_user of &cmd->field). */
  respondField(field: keyof T & string): void {
    const end = offsetofend(this.codec, field);
    const off = this.codec.fields[field]![0];
    this.user.write(off, this.codec.encode(this.cmd).subarray(off, end));
  }
}
