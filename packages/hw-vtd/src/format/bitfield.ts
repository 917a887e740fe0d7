// A codec for a structure of little-endian qwords described field by field (bit ranges as the VT-d spec writes them).
import { genmask } from '@iommu-lab/platform';

/** flag: one bit as boolean; num: a narrow field as number; addr: bits kept in place (an address); big: a wide field as bigint. */
export type FieldKind = 'flag' | 'num' | 'addr' | 'big';

export interface FieldDef<K extends FieldKind = FieldKind> {
  readonly word: number;
  readonly hi: number;
  readonly lo: number;
  readonly kind: K;
}

export type FieldValue<K extends FieldKind> = K extends 'flag' ? boolean : K extends 'num' ? number : bigint;
export type FieldsOf<S extends Record<string, FieldDef>> = { [K in keyof S]: FieldValue<S[K]['kind']> };

/** Field constructors: flag(word, bit), num(word, hi, lo), addr(word, hi, lo), big(word, hi, lo). */
export const flag = (word: number, bit: number): FieldDef<'flag'> => ({ word, hi: bit, lo: bit, kind: 'flag' });
export const num = (word: number, hi: number, lo: number): FieldDef<'num'> => ({ word, hi, lo, kind: 'num' });
export const addr = (word: number, hi: number, lo: number): FieldDef<'addr'> => ({ word, hi, lo, kind: 'addr' });
export const big = (word: number, hi: number, lo: number): FieldDef<'big'> => ({ word, hi, lo, kind: 'big' });

/** Bits at and above `haw` of a qword: reserved in every address field (host address width). */
export function aboveHaw(haw: number): bigint {
  return genmask(63, haw);
}

export interface EntryCodec<S extends Record<string, FieldDef>> {
  readonly name: string;
  /** Number of qwords (2 = 128-bit, 4 = 256-bit, 8 = 512-bit). */
  readonly words: number;
  readonly fields: S;
  decode(words: readonly bigint[]): FieldsOf<S>;
  /** The qwords of a (partial) field set; absent fields are zero. RangeError when a value does not fit. */
  encode(fields: Partial<FieldsOf<S>>): bigint[];
}

export function defineEntry<S extends Record<string, FieldDef>>(name: string, words: number, fields: S): EntryCodec<S> {
  // Masks and shifts are computed once per codec: encode and decode run on hot invalidation paths.
  const list = Object.entries(fields).map(([key, f]) => ({ key, f, m: genmask(f.hi, f.lo), lo: BigInt(f.lo) }));
  return {
    name,
    words,
    fields,
    decode(w) {
      const out: Record<string, unknown> = {};
      for (const { key, f, m, lo } of list) {
        const v = (w[f.word] ?? 0n) & m;
        if (f.kind === 'flag') out[key] = v !== 0n;
        else if (f.kind === 'addr') out[key] = v;
        else if (f.kind === 'num') out[key] = Number(v >> lo);
        else out[key] = v >> lo;
      }
      return out as FieldsOf<S>;
    },
    encode(values) {
      const w = new Array<bigint>(words).fill(0n);
      const vals = values as Record<string, unknown>;
      for (const { key, f, m, lo } of list) {
        const x = vals[key];
        if (x === undefined || x === false) continue;
        let v: bigint;
        if (f.kind === 'flag') v = x ? m : 0n;
        else if (f.kind === 'addr') {
          v = BigInt(x as bigint);
          if ((v & ~m) !== 0n) throw new RangeError(`${name}.${key}: 0x${v.toString(16)} is not an address in bits ${f.hi}:${f.lo}`);
        } else {
          v = BigInt(x as number | bigint) << lo;
          if (v < 0n || (v & ~m) !== 0n) throw new RangeError(`${name}.${key}: ${String(x)} does not fit bits ${f.hi}:${f.lo}`);
        }
        w[f.word] = w[f.word]! | v;
      }
      return w;
    },
  };
}

/** True when any bit of `reserved[i]` is set in `words[i]`. */
export function hasReservedBits(words: readonly bigint[], reserved: readonly bigint[]): boolean {
  return reserved.some((m, i) => ((words[i] ?? 0n) & m) !== 0n);
}
