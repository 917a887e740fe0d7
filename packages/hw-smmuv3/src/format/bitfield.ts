// Bit-field codecs for the SMMU's little-endian structures: 32-bit registers and arrays of 64-bit dwords.
import { bitsOf, genmask, withBits } from '@iommu-lab/platform';

/**
 * [dword, hi, lo] decodes to a number; [dword, hi, lo, 'addr'] to a bigint address with the field in
 * place (low bits zero); [dword, hi, lo, 'u64'] to the field as a bigint.
 */
export type Field64 = readonly [dw: number, hi: number, lo: number] | readonly [dw: number, hi: number, lo: number, kind: 'addr' | 'u64'];

type Value64<S> = S extends readonly [number, number, number, 'addr' | 'u64'] ? bigint : number;
export type Fields64<F> = { [K in keyof F]: Value64<F[K]> };

export interface DwordCodec<T> {
  readonly name: string;
  readonly dwords: number;
  readonly fields: Readonly<Record<string, Field64>>;
  decode(dw: readonly bigint[]): T;
  /** The dwords of a (partial) structure; absent fields are zero; a field that does not fit is a RangeError. */
  encode(f: Partial<T>): bigint[];
}

export function defineDwords<F extends Record<string, Field64>>(name: string, dwords: number, fields: F): DwordCodec<Fields64<F>> {
  for (const [k, [dw, hi, lo, kind]] of Object.entries(fields)) {
    if (dw >= dwords || hi > 63 || lo > hi) throw new Error(`${name}.${k}: bad field [${dw}, ${hi}, ${lo}]`);
    if (!kind && hi - lo >= 32) throw new Error(`${name}.${k}: fields wider than 32 bits need a bigint kind`);
  }
  return {
    name,
    dwords,
    fields,
    decode(dw) {
      const o: Record<string, number | bigint> = {};
      for (const [k, [d, hi, lo, kind]] of Object.entries(fields)) {
        const v = bitsOf(dw[d] ?? 0n, hi, lo);
        o[k] = kind === 'addr' ? v << BigInt(lo) : kind === 'u64' ? v : Number(v);
      }
      return o as Fields64<F>;
    },
    encode(f) {
      const out = new Array<bigint>(dwords).fill(0n);
      const src = f as Record<string, number | bigint | undefined>;
      for (const [k, [d, hi, lo, kind]] of Object.entries(fields)) {
        const x = src[k];
        if (x === undefined) continue;
        let v = BigInt(x);
        if (kind === 'addr') {
          if ((v & ((1n << BigInt(lo)) - 1n)) !== 0n) throw new RangeError(`${name}.${k}: 0x${v.toString(16)} is not aligned to 2^${lo}`);
          v >>= BigInt(lo);
        }
        try {
          out[d] = withBits(out[d]!, hi, lo, v);
        } catch {
          throw new RangeError(`${name}.${k}: 0x${BigInt(x).toString(16)} does not fit bits ${hi}:${lo}`);
        }
      }
      return out;
    },
  };
}

/** The mask of every bit some field of `codec` covers, per dword. */
export function fieldMask(codec: DwordCodec<unknown>): bigint[] {
  const m = new Array<bigint>(codec.dwords).fill(0n);
  for (const [d, hi, lo] of Object.values(codec.fields)) m[d]! |= genmask(hi, lo);
  return m;
}

export type Field32 = readonly [hi: number, lo: number];
export type Fields32<F> = { [K in keyof F]: number };

export interface Reg32Codec<T> {
  readonly name: string;
  readonly fields: Readonly<Record<string, Field32>>;
  decode(v: number): T;
  encode(f: Partial<T>): number;
}

export function defineReg32<F extends Record<string, Field32>>(name: string, fields: F): Reg32Codec<Fields32<F>> {
  return {
    name,
    fields,
    decode(v) {
      const o: Record<string, number> = {};
      for (const [k, [hi, lo]] of Object.entries(fields)) o[k] = Math.floor((v >>> 0) / 2 ** lo) % 2 ** (hi - lo + 1);
      return o as Fields32<F>;
    },
    encode(f) {
      let v = 0;
      const src = f as Record<string, number | undefined>;
      for (const [k, [hi, lo]] of Object.entries(fields)) {
        const x = src[k];
        if (x === undefined) continue;
        if (!Number.isInteger(x) || x < 0 || x >= 2 ** (hi - lo + 1)) throw new RangeError(`${name}.${k}: ${x} does not fit bits ${hi}:${lo}`);
        v += x * 2 ** lo;
      }
      return v >>> 0;
    },
  };
}
