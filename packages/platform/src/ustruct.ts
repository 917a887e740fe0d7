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

/** A field resolved once at definition: the hot paths loop over these instead of Object.entries. */
interface Slot {
  readonly field: string;
  readonly off: number;
  readonly type: ScalarType;
  readonly count: number;
  readonly width: number;
  readonly nested: Inner | null;
}

/** The codec's DataView-level members, shared by nested union members so one view serves a whole struct. */
interface Inner {
  enc(v: Record<string, unknown>, dv: DataView, at: number): void;
  dec(dv: DataView, at: number): Record<string, unknown>;
  wb(t: Record<string, unknown>, dv: DataView, from: number, to: number, at: number): void;
}

const INNER = new WeakMap<object, Inner>();

/** The inner members of a nested codec; a codec not made by defineStruct goes through its public methods. */
function innerOf(c: StructCodec<object>): Inner {
  const known = INNER.get(c);
  if (known) return known;
  const bytesOf = (dv: DataView) => new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
  return {
    enc: (v, dv, at) => void c.encode(v, bytesOf(dv), at),
    dec: (dv, at) => c.decode(bytesOf(dv), at) as Record<string, unknown>,
    wb: (t, dv, from, to, at) => c.writeBack(t, bytesOf(dv), from, to, at),
  };
}

function readArray(dv: DataView, off: number, s: Slot): (number | bigint)[] {
  const a = new Array<number | bigint>(s.count);
  const w = WIDTH[s.type];
  for (let i = 0; i < s.count; i++) a[i] = get(dv, off + i * w, s.type);
  return a;
}

/** Defines a struct codec; offsets and sizes are the kernel header's (checked by tests against pahole-style layouts). */
export function defineStruct<F extends Record<string, FieldSpec>>(name: string, size: number, fields: F): StructCodec<StructOf<F>> {
  const slots: Slot[] = [];
  for (const [field, spec] of Object.entries(fields)) {
    const width = isNested(spec) ? spec[1].size : WIDTH[spec[1]] * (spec[2] ?? 1);
    if (spec[0] + width > size) throw new Error(`${name}.${field} at ${spec[0]}+${width} exceeds sizeof ${size}`);
    const nested = isNested(spec) ? innerOf(spec[1]) : null;
    slots.push({ field, off: spec[0], type: nested ? 'u8' : (spec[1] as ScalarType), count: nested ? 0 : (spec[2] ?? -1), width, nested });
  }
  const inner: Inner = {
    enc(v, dv, at) {
      for (const s of slots) {
        const x = v[s.field];
        if (x === undefined) continue;
        const off = at + s.off;
        if (s.nested) {
          s.nested.enc(x as Record<string, unknown>, dv, off);
        } else if (s.count >= 0) {
          const arr = x as ArrayLike<unknown>;
          const n = Math.min(arr.length, s.count);
          for (let i = 0; i < n; i++) put(dv, off + i * WIDTH[s.type], s.type, `${name}.${s.field}[${i}]`, arr[i]);
        } else {
          put(dv, off, s.type, `${name}.${s.field}`, x);
        }
      }
    },
    dec(dv, at) {
      const o: Record<string, unknown> = {};
      for (const s of slots) {
        const off = at + s.off;
        o[s.field] = s.nested ? s.nested.dec(dv, off) : s.count >= 0 ? readArray(dv, off, s) : get(dv, off, s.type);
      }
      return o;
    },
    wb(t, dv, from, to, at) {
      for (const s of slots) {
        const off = at + s.off;
        if (s.nested) {
          const member = t[s.field];
          if (member && typeof member === 'object') s.nested.wb(member as Record<string, unknown>, dv, from, to, off);
          continue;
        }
        if (off < from || off + s.width > to) continue;
        t[s.field] = s.count >= 0 ? readArray(dv, off, s) : get(dv, off, s.type);
      }
    },
  };
  const codec: StructCodec<StructOf<F>> = {
    name,
    size,
    fields,
    encode(value, into, at = 0) {
      const out = into ?? new Uint8Array(size);
      inner.enc(value as Record<string, unknown>, viewOf(out), at);
      return out;
    },
    decode(bytes, at = 0) {
      return inner.dec(viewOf(bytes), at) as StructOf<F>;
    },
    writeBack(target, bytes, from, to, at = 0) {
      inner.wb(target as Record<string, unknown>, viewOf(bytes), from, to, at);
    },
  };
  INNER.set(codec, inner);
  return codec;
}

/** The object type a codec encodes: StructType<typeof iommu_ioas_map>. */
export type StructType<C> = C extends StructCodec<infer T> ? T : never;
