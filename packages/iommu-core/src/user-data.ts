// struct iommu_user_data(_array) and the iommu_copy_struct_from_user* helpers of include/linux/iommu.h.
import { copyStructFromUser, ErrnoError, type Process, type StructCodec, userPointer } from '@iommu-lab/platform';

/** Vendor data a user passed with an allocation: type, pointer and length in the caller. */
export interface IommuUserData {
  readonly type: number;
  readonly uptr: bigint;
  readonly len: number;
  readonly proc: Process;
}

/** An array of vendor invalidation entries; entry_num is written back as the count handled. */
export interface IommuUserDataArray {
  readonly type: number;
  readonly uptr: bigint;
  readonly entry_len: number;
  entry_num: number;
  readonly proc: Process;
}

/**
 * iommu_copy_struct_from_user: EINVAL for another type, a length below minLen (offsetofend of the
 * last mandatory field) or above sizeof; shorter input is zero-extended.
 */
export function iommuCopyStructFromUser<T extends object>(codec: StructCodec<T>, data: IommuUserData, dataType: number, minLen: number): T {
  if (data.type !== dataType) throw new ErrnoError('EINVAL', 'ioctl', `${codec.name}: data type ${data.type} is not ${dataType}`);
  if (data.len < minLen || codec.size < data.len) {
    throw new ErrnoError('EINVAL', 'ioctl', `${codec.name}: data length ${data.len} outside [${minLen}, ${codec.size}]`);
  }
  return codec.decode(copyStructFromUser(userPointer(data.proc, data.uptr), codec.size, data.len));
}

/** iommu_copy_struct_from_user_array: entry `index` of the array, with the same length rules. */
export function iommuCopyStructFromUserArray<T extends object>(
  codec: StructCodec<T>,
  array: IommuUserDataArray,
  dataType: number,
  index: number,
  minLen: number,
): T {
  if (index >= array.entry_num || array.entry_num === 0) throw new ErrnoError('EINVAL', 'ioctl', `${codec.name}: no entry ${index}`);
  const entry: IommuUserData = { type: array.type, uptr: array.uptr + BigInt(array.entry_len) * BigInt(index), len: array.entry_len, proc: array.proc };
  return iommuCopyStructFromUser(codec, entry, dataType, minLen);
}

/**
 * iommu_copy_struct_from_full_user_array: every entry; an entry_len other than sizeof is copied
 * entry by entry with copy_struct_from_user (zero-extended, or E2BIG for a non-zero tail).
 */
export function iommuCopyStructFromFullUserArray<T extends object>(codec: StructCodec<T>, array: IommuUserDataArray, dataType: number): T[] {
  if (array.type !== dataType) throw new ErrnoError('EINVAL', 'ioctl', `${codec.name}: data type ${array.type} is not ${dataType}`);
  if (array.entry_num === 0) throw new ErrnoError('EINVAL', 'ioctl', `${codec.name}: empty array`);
  const out: T[] = [];
  for (let i = 0; i < array.entry_num; i++) {
    const src = userPointer(array.proc, array.uptr + BigInt(array.entry_len) * BigInt(i));
    out.push(codec.decode(copyStructFromUser(src, codec.size, array.entry_len)));
  }
  return out;
}
