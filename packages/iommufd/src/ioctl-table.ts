// IOCTL_OP entries: request number, struct, minimum size (offsetofend of the last mandatory field), handler.
import type { StructCodec } from '@iommu-lab/platform';
import type { Ucmd } from './ucmd.js';

export interface IoctlOp {
  readonly num: number;
  readonly codec: StructCodec<object>;
  readonly minSize: number;
  readonly execute: (ucmd: Ucmd<never>) => unknown;
  /** Decodes the copied-in struct; a union-heavy struct decodes only what its op uses. */
  readonly decode: (bytes: Uint8Array) => object;
}

const WIDTH = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8 } as const;

/** offsetofend(struct, field) from a codec. */
export function offsetofend<T extends object>(codec: StructCodec<T>, field: keyof T & string): number {
  const spec = codec.fields[field];
  if (!spec) throw new Error(`${codec.name} has no field ${field}`);
  const width = typeof spec[1] === 'object' ? spec[1].size : WIDTH[spec[1]] * (spec[2] ?? 1);
  return spec[0] + width;
}

export function ioctlOp<T extends object>(
  num: number,
  codec: StructCodec<T>,
  last: keyof T & string,
  execute: (ucmd: Ucmd<T>) => unknown,
  decode: (bytes: Uint8Array) => T = (b) => codec.decode(b),
): IoctlOp {
  return { num, codec: codec as StructCodec<object>, minSize: offsetofend(codec, last), execute: execute as (u: Ucmd<never>) => unknown, decode };
}
