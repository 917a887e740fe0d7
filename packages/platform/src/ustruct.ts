// Codecs for kernel uAPI structs: little-endian fields at fixed offsets, shared by typed and raw ioctl forms.

export type ScalarType = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 's64';

/** [offset, type] | [offset, type, count] for arrays | [offset, nested struct] for union members. */
export type FieldSpec =
  | readonly [offset: number, type: ScalarType]
  | readonly [offset: number, type: ScalarType, count: number]
  | readonly [offset: number, nested: StructCodec<object>];

type Wide = 'u64' | 's64';
type FieldValue<S> = S extends readonly [number, StructCodec<infer U>]
  ? Partial<U>
  : S extends readonly [number, Wide, number]
    ? bigint[]
    : S extends readonly [number, ScalarType, number]
      ? number[]
      : S extends readonly [number, Wide]
        ? bigint
        : number;

/** The JS shape of a struct: u64 fields bigint, narrower fields number, arrays as arrays. */
export type StructOf<F extends Record<string, FieldSpec>> = { [K in keyof F]: FieldValue<F[K]> };

const WIDTH: Record<ScalarType, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8 };

export interface StructCodec<T extends object> {
  readonly name: string;
  /** sizeof(struct) in the kernel's layout. */
  readonly size: number;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  /** The struct bytes of a (partial) object; absent fields are zero. */
  encode(value: Partial<T>, into?: Uint8Array, at?: number): Uint8Array;
  /** Every field decoded from bytes (zero-extended when bytes is short). */
  decode(bytes: Uint8Array, at?: number): T;
  /** Copies into `target` every field lying inside bytes[from, to), as copy_to_user would expose it. */
  writeBack(target: Partial<T>, bytes: Uint8Array, from: number, to: number, at?: number): void;
}

function toBig(name: string, v: unknown, type: ScalarType): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  throw new TypeError(`field ${name}: expected an integer for ${type}, got ${typeof v}`);
}

function toNum(name: string, v: unknown, type: ScalarType): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  throw new TypeError(`field ${name}: expected an integer for ${type}, got ${typeof v}`);
}

function put(dv: DataView, off: number, type: ScalarType, name: string, v: unknown): void {
  switch (type) {
    case 'u8':
      dv.setUint8(off, toNum(name, v, type) & 0xff);
      return;
    case 'u16':
      dv.setUint16(off, toNum(name, v, type) & 0xffff, true);
      return;
    case 'u32':
    case 's32':
      dv.setUint32(off, toNum(name, v, type) >>> 0, true);
      return;
    case 'u64':
    case 's64':
      dv.setBigUint64(off, BigInt.asUintN(64, toBig(name, v, type)), true);
      return;
  }
}

function get(dv: DataView, off: number, type: ScalarType): number | bigint {
  if (off + WIDTH[type] > dv.byteLength) return type === 'u64' || type === 's64' ? 0n : 0;
  switch (type) {
    case 'u8':
      return dv.getUint8(off);
    case 'u16':
      return dv.getUint16(off, true);
    case 'u32':
      return dv.getUint32(off, true);
    case 's32':
      return dv.getInt32(off, true);
    case 'u64':
      return dv.getBigUint64(off, true);
    case 's64':
      return dv.getBigInt64(off, true);
  }
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function isNested(spec: FieldSpec): spec is readonly [number, StructCodec<object>] {
  return typeof spec[1] === 'object';
}

/** Defines a struct codec; offsets and sizes are the kernel header's (checked by tests against pahole-style layouts). */
export function defineStruct<F extends Record<string, FieldSpec>>(name: string, size: number, fields: F): StructCodec<StructOf<F>> {
  for (const [field, spec] of Object.entries(fields)) {
    const width = isNested(spec) ? spec[1].size : WIDTH[spec[1]] * (spec[2] ?? 1);
    if (spec[0] + width > size) throw new Error(`${name}.${field} at ${spec[0]}+${width} exceeds sizeof ${size}`);
  }
  const codec: StructCodec<StructOf<F>> = {
    name,
    size,
    fields,
    encode(value, into, at = 0) {
      const out = into ?? new Uint8Array(size);
      const dv = viewOf(out);
      const v = value as Record<string, unknown>;
      for (const [field, spec] of Object.entries(fields)) {
        const x = v[field];
        if (x === undefined) continue;
        const off = at + spec[0];
        if (isNested(spec)) {
          spec[1].encode(x as object, out, off);
        } else if (spec[2] !== undefined) {
          const arr = x as ArrayLike<unknown>;
          for (let i = 0; i < Math.min(arr.length, spec[2]); i++) put(dv, off + i * WIDTH[spec[1]], spec[1], `${name}.${field}[${i}]`, arr[i]);
        } else {
          put(dv, off, spec[1], `${name}.${field}`, x);
        }
      }
      return out;
    },
    decode(bytes, at = 0) {
      const dv = viewOf(bytes);
      const o: Record<string, unknown> = {};
      for (const [field, spec] of Object.entries(fields)) {
        const off = at + spec[0];
        if (isNested(spec)) o[field] = spec[1].decode(bytes, off);
        else if (spec[2] !== undefined) o[field] = Array.from({ length: spec[2] }, (_, i) => get(dv, off + i * WIDTH[spec[1] as ScalarType], spec[1] as ScalarType));
        else o[field] = get(dv, off, spec[1]);
      }
      return o as StructOf<F>;
    },
    writeBack(target, bytes, from, to, at = 0) {
      const dv = viewOf(bytes);
      const t = target as Record<string, unknown>;
      for (const [field, spec] of Object.entries(fields)) {
        const off = at + spec[0];
        if (isNested(spec)) {
          const member = t[field];
          if (member && typeof member === 'object') spec[1].writeBack(member, bytes, from, to, off);
          continue;
        }
        const width = WIDTH[spec[1]] * (spec[2] ?? 1);
        if (off < from || off + width > to) continue;
        if (spec[2] !== undefined) t[field] = Array.from({ length: spec[2] }, (_, i) => get(dv, off + i * WIDTH[spec[1] as ScalarType], spec[1] as ScalarType));
        else t[field] = get(dv, off, spec[1]);
      }
    },
  };
  return codec;
}

/** The object type a codec encodes: StructType<typeof iommu_ioas_map>. */
export type StructType<C> = C extends StructCodec<infer T> ? T : never;
