import { describe, expect, it } from 'vitest';
import { Host } from './host.js';
import { userArg } from './ioctl-arg.js';
import { defineStruct } from './ustruct.js';

// struct iommu_ioas_map from include/uapi/linux/iommufd.h: 40 bytes.
const ioasMap = defineStruct('iommu_ioas_map', 40, {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  ioas_id: [8, 'u32'],
  __reserved: [12, 'u32'],
  user_va: [16, 'u64'],
  length: [24, 'u64'],
  iova: [32, 'u64'],
});

const inner = defineStruct('inner', 8, { a: [0, 'u32'], b: [4, 'u16'], c: [6, 'u8', 2] });
const outer = defineStruct('outer', 24, { size: [0, 'u32'], op: [4, 'u32'], first: [8, inner], second: [8, 'u64'], tail: [16, 'u32', 2] });

describe('struct codecs', () => {
  it('encode little-endian fields at the kernel offsets', () => {
    const b = ioasMap.encode({ size: 40, flags: 7, ioas_id: 2, user_va: 0x7f00_1234_5000n, length: 0x20_0000n, iova: 0x1000_0000n });
    const hex = Buffer.from(b).toString('hex');
    expect(hex).toBe(
      '28000000' + '07000000' + '02000000' + '00000000' + '0050341200' + '7f0000' + '0000200000000000' + '0000001000000000',
    );
    expect(ioasMap.decode(b)).toEqual({ size: 40, flags: 7, ioas_id: 2, __reserved: 0, user_va: 0x7f00_1234_5000n, length: 0x20_0000n, iova: 0x1000_0000n });
  });

  it('encode arrays, nested members and union overlays', () => {
    const b = outer.encode({ size: 24, first: { a: 0x01020304, b: 0xaabb, c: [5, 6] }, tail: [1, 0xffffffff] });
    expect(Buffer.from(b).toString('hex')).toBe('18000000' + '00000000' + '04030201' + 'bbaa' + '0506' + '01000000' + 'ffffffff');
    const d = outer.decode(b);
    expect(d.second).toBe(0x0605aabb01020304n);
    expect(d.first).toEqual({ a: 0x01020304, b: 0xaabb, c: [5, 6] });
    expect(() => defineStruct('bad', 8, { x: [4, 'u64'] })).toThrow(/exceeds sizeof 8/);
    expect(() => ioasMap.encode({ length: 1.5 as unknown as bigint })).toThrow(/iommu_ioas_map.length/);
  });
});

describe('ioctl arguments', () => {
  const proc = () => new Host({ memory: 16 * 2 ** 20 }).spawnProcess();

  it('give the same bytes for a typed object, raw bytes and a pointer', () => {
    const p = proc();
    const fields = { size: 40, flags: 1, ioas_id: 3, user_va: 0x1000n, length: 0x2000n, iova: 0x4000n };
    const raw = ioasMap.encode(fields);
    const va = p.mmap(4096);
    p.memWrite(va, raw);
    for (const arg of [{ ...fields }, raw.slice(), va]) {
      const u = userArg(arg, p, ioasMap, 'size');
      expect(u.readU32(0)).toBe(40);
      expect(u.read(0, 40)).toEqual(raw);
    }
  });

  it('write outputs back into the typed object, the bytes or the process', () => {
    const p = proc();
    const typed: { size?: number; iova?: bigint; ioas_id?: number } = { ioas_id: 3 };
    const u = userArg(typed, p, ioasMap, 'size');
    expect(u.readU32(0)).toBe(40);
    u.write(32, ioasMap.encode({ iova: 0xabcn }).subarray(32, 40));
    expect(typed.iova).toBe(0xabcn);
    const raw = new Uint8Array(40);
    userArg(raw, p, ioasMap).write(8, Uint8Array.of(9, 0, 0, 0));
    expect(raw[8]).toBe(9);
    const va = p.mmap(4096);
    userArg(va, p).write(0, Uint8Array.of(1, 2));
    expect(p.memRead(va, 2)).toEqual(Uint8Array.of(1, 2));
  });

  it('only expose fields inside the declared size and zero-extend a short struct', () => {
    const p = proc();
    const typed = { size: 24, ioas_id: 5, iova: 0x9000n };
    const u = userArg(typed, p, ioasMap, 'size');
    expect(u.read(0, 24)).toEqual(ioasMap.encode({ size: 24, ioas_id: 5 }).subarray(0, 24));
    const big = userArg({ size: 48, ioas_id: 5 }, p, ioasMap, 'size');
    expect(big.read(40, 8)).toEqual(new Uint8Array(8));
  });

  it('fault on NULL, short buffers and unmapped pointers', () => {
    const p = proc();
    for (const arg of [null, undefined, 0n, 0, new Uint8Array(2), 0x1234_0000n]) {
      expect(() => userArg(arg, p, ioasMap).readU32(0)).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
    }
    expect(() => userArg({ size: 40 }, p)).toThrow(TypeError);
  });
});
