// The argument of an ioctl as the handler sees it: user memory behind a typed object, raw bytes or a pointer.
import { ErrnoError } from './errno.js';
import type { Process } from './process.js';
import type { StructCodec } from './ustruct.js';

/**
 * What a program passes as the third ioctl argument: a typed struct object (kernel field names),
 * the raw struct bytes, a pointer (bigint VA) into the calling process, or a plain integer.
 */
export type IoctlArg = object | Uint8Array | bigint | number | null | undefined;

/** Byte-addressed user memory at the argument, with copy_from_user/copy_to_user semantics (EFAULT). */
export interface UserArg {
  read(offset: number, length: number): Uint8Array;
  write(offset: number, bytes: Uint8Array): void;
  readU32(offset: number): number;
}

abstract class BaseArg implements UserArg {
  abstract read(offset: number, length: number): Uint8Array;
  abstract write(offset: number, bytes: Uint8Array): void;
  readU32(offset: number): number {
    const b = this.read(offset, 4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }
}

class BytesArg extends BaseArg {
  constructor(private readonly bytes: Uint8Array) {
    super();
  }
  read(offset: number, length: number): Uint8Array {
    if (offset < 0 || offset + length > this.bytes.length) {
      throw new ErrnoError('EFAULT', 'ioctl', `argument buffer of ${this.bytes.length} bytes read at ${offset}+${length}`);
    }
    return this.bytes.slice(offset, offset + length);
  }
  write(offset: number, bytes: Uint8Array): void {
    if (offset < 0 || offset + bytes.length > this.bytes.length) {
      throw new ErrnoError('EFAULT', 'ioctl', `argument buffer of ${this.bytes.length} bytes written at ${offset}+${bytes.length}`);
    }
    this.bytes.set(bytes, offset);
  }
}

class PointerArg extends BaseArg {
  constructor(
    private readonly proc: Process,
    private readonly va: bigint,
  ) {
    super();
  }
  read(offset: number, length: number): Uint8Array {
    if (this.va === 0n) throw new ErrnoError('EFAULT', 'ioctl', 'NULL argument');
    return this.proc.memRead(this.va + BigInt(offset), length);
  }
  write(offset: number, bytes: Uint8Array): void {
    if (this.va === 0n) throw new ErrnoError('EFAULT', 'ioctl', 'NULL argument');
    this.proc.memWrite(this.va + BigInt(offset), bytes);
  }
}

class NullArg extends BaseArg {
  read(): Uint8Array {
    throw new ErrnoError('EFAULT', 'ioctl', 'NULL argument');
  }
  write(): void {
    throw new ErrnoError('EFAULT', 'ioctl', 'NULL argument');
  }
}

/** A typed object seen as the bytes it encodes to; writes are decoded back into the object's fields. */
class TypedArg<T extends object> extends BaseArg {
  private readonly bytes: Uint8Array;
  private readonly length: number;
  constructor(
    private readonly obj: Partial<T>,
    private readonly codec: StructCodec<T>,
    sizeField: string | undefined,
  ) {
    super();
    const rec = obj as Record<string, unknown>;
    const declared = sizeField !== undefined && rec[sizeField] !== undefined ? Number(rec[sizeField]) : codec.size;
    const fill = sizeField !== undefined && rec[sizeField] === undefined ? { ...obj, [sizeField]: codec.size } : obj;
    this.bytes = new Uint8Array(Math.max(declared, codec.size));
    codec.encode(fill, this.bytes);
    this.length = declared;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset < 0 || offset + length > Math.max(this.length, this.codec.size)) {
      throw new ErrnoError('EFAULT', 'ioctl', `${this.codec.name} read at ${offset}+${length}`);
    }
    return this.bytes.slice(offset, offset + length);
  }
  write(offset: number, bytes: Uint8Array): void {
    if (offset < 0 || offset + bytes.length > this.bytes.length) {
      throw new ErrnoError('EFAULT', 'ioctl', `${this.codec.name} written at ${offset}+${bytes.length}`);
    }
    this.bytes.set(bytes, offset);
    this.codec.writeBack(this.obj, this.bytes, offset, offset + bytes.length);
  }
}

function isTypedObject(arg: IoctlArg): arg is object {
  return typeof arg === 'object' && arg !== null && !(arg instanceof Uint8Array);
}

/**
 * The user memory behind `arg`. Typed objects need the struct's codec; `sizeField` names the
 * leading size/argsz member, filled with sizeof when the object leaves it out.
 */
export function userArg<T extends object>(arg: IoctlArg, proc: Process, codec?: StructCodec<T>, sizeField?: string): UserArg {
  if (arg === null || arg === undefined) return new NullArg();
  if (arg instanceof Uint8Array) return new BytesArg(arg);
  if (typeof arg === 'bigint') return new PointerArg(proc, arg);
  if (typeof arg === 'number') return new PointerArg(proc, BigInt(arg));
  if (isTypedObject(arg)) {
    if (!codec) throw new TypeError('a typed ioctl argument needs a request with a known struct');
    return new TypedArg(arg as Partial<T>, codec, sizeField);
  }
  throw new TypeError(`unsupported ioctl argument of type ${typeof arg}`);
}

/** User memory at a pointer (a `__u64 *_uptr` field) in the calling process. */
export function userPointer(proc: Process, va: bigint): UserArg {
  return new PointerArg(proc, va);
}

/**
 * copy_struct_from_user: reads a user struct of usize bytes into a ksize-byte kernel struct.
 * Shorter input is zero-extended; longer input must have an all-zero tail, else E2BIG.
 */
export function copyStructFromUser(src: UserArg, ksize: number, usize: number, offset = 0): Uint8Array {
  const out = new Uint8Array(ksize);
  const n = Math.min(ksize, usize);
  if (n > 0) out.set(src.read(offset, n));
  if (usize > ksize) {
    const tail = src.read(offset + ksize, usize - ksize);
    if (tail.some((b) => b !== 0)) throw new ErrnoError('E2BIG', 'ioctl', `non-zero bytes beyond the ${ksize}-byte struct`);
  }
  return out;
}

/** The integer value of an ioctl that takes its argument by value (e.g. VFIO_CHECK_EXTENSION). */
export function intArg(arg: IoctlArg): number {
  if (arg === null || arg === undefined) return 0;
  if (typeof arg === 'number') return arg;
  if (typeof arg === 'bigint') return Number(BigInt.asUintN(64, arg));
  throw new TypeError('this ioctl takes an integer argument');
}
