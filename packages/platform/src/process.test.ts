import { describe, expect, it } from 'vitest';
import { Host } from './host.js';
import { MemObject } from './mem-object.js';
import { OpenFile, POLLIN, POLLOUT, type FileOps } from './vfs.js';

const MiB = 2 ** 20;
const host = () => new Host({ memory: 64 * MiB });
const bytes = (...v: number[]) => Uint8Array.from(v);

describe('process memory', () => {
  it('maps lazily: a mapping costs no frame until touched', () => {
    const h = host();
    const p = h.spawnProcess();
    const used = h.frames.used;
    const va = p.mmap(2 ** 30);
    expect(h.frames.used).toBe(used);
    expect(p.memRead(va + 12345n, 3)).toEqual(bytes(0, 0, 0));
    expect(h.frames.used).toBe(used);
    p.memWrite(va + 4096n * 7n + 4094n, bytes(1, 2, 3, 4));
    expect(h.frames.used).toBe(used + 2);
    expect(p.memRead(va + 4096n * 7n + 4094n, 4)).toEqual(bytes(1, 2, 3, 4));
  });

  it('hands out page-aligned addresses top-down and honours MAP_FIXED', () => {
    const p = host().spawnProcess();
    const a = p.mmap(8192);
    const b = p.mmap(4096);
    expect(a % 4096n).toBe(0n);
    expect(b).toBeLessThan(a);
    const f = p.mmap(4096, { fixed: 0x10000000n });
    expect(f).toBe(0x10000000n);
    p.memWrite(f, bytes(9));
    p.mmap(4096, { fixed: 0x10000000n });
    expect(p.memRead(f, 1)).toEqual(bytes(0));
    expect(() => p.mmap(4096, { fixed: 0x10000000n, noReplace: true })).toThrowError(expect.objectContaining({ code: 'EEXIST' }));
    const huge = p.mmap(4 * MiB, { hugetlb: true });
    expect(huge % BigInt(2 * MiB)).toBe(0n);
  });

  it('faults with EFAULT on unmapped or read-only memory', () => {
    const p = host().spawnProcess();
    const va = p.mmap(3 * 4096);
    p.munmap(va + 4096n, 4096);
    expect(() => p.memRead(va + 4096n, 1)).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
    expect(() => p.memWrite(va + 4095n, bytes(1, 2))).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
    p.memWrite(va + 8192n, bytes(5));
    const ro = p.mmap(4096, { prot: 'r' });
    expect(() => p.memWrite(ro, bytes(1))).toThrowError(expect.objectContaining({ code: 'EFAULT', syscall: 'fault' }));
    expect(() => p.memRead(0n, 1)).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
    expect(() => p.mmap(0)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('pins with exact per-page counts and unwinds a partial pin', () => {
    const h = host();
    const p = h.spawnProcess();
    const va = p.mmap(4 * 4096);
    const pfns = p.mm.pin(Number(va), 4, true);
    const again = p.mm.pin(Number(va) + 4096, 2, false);
    expect([...again]).toEqual([pfns[1], pfns[2]]);
    expect([...pfns].map((x) => h.frames.pinCount(x))).toEqual([1, 2, 2, 1]);
    p.munmap(va + 3n * 4096n, 4096);
    expect(() => p.mm.pin(Number(va), 4, false)).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
    expect([...pfns].map((x) => h.frames.pinCount(x))).toEqual([1, 2, 2, 1]);
    const ro = p.mmap(4096, { prot: 'r' });
    expect(() => p.mm.pin(Number(ro), 1, true)).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
  });

  it('keeps pinned pages alive after munmap and exit', () => {
    const h = host();
    const p = h.spawnProcess();
    const va = p.mmap(4096);
    p.memWrite(va, bytes(0xab));
    const [pfn] = p.mm.pin(Number(va), 1, true);
    p.exit();
    expect(p.mm.alive).toBe(false);
    expect(h.frames.isAllocated(pfn!)).toBe(true);
    expect(h.mem.u8(pfn! * 4096)).toBe(0xab);
    expect(() => p.mm.pin(Number(va), 1, false)).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
    h.frames.unpin(pfn!);
    expect(h.frames.isAllocated(pfn!)).toBe(false);
  });

  it('fork shares MAP_SHARED memory and copies private memory', () => {
    const p = host().spawnProcess();
    const shared = p.mmap(4096, { shared: true });
    const priv = p.mmap(4096);
    p.memWrite(shared, bytes(1));
    p.memWrite(priv, bytes(1));
    const c = p.fork();
    c.memWrite(shared, bytes(2));
    c.memWrite(priv, bytes(2));
    expect(p.memRead(shared, 1)).toEqual(bytes(2));
    expect(p.memRead(priv, 1)).toEqual(bytes(1));
    expect(c.mm.fault(Number(shared), false)).toBe(p.mm.fault(Number(shared), false));
    expect(c.mm.fault(Number(priv), false)).not.toBe(p.mm.fault(Number(priv), false));
    expect(c.parent).toBe(p);
  });

  it('backs hugetlb mappings with aligned, contiguous, compound 2 MiB pages', () => {
    const h = host();
    const p = h.spawnProcess();
    const va = p.mmap(4 * MiB, { hugetlb: true, shared: true });
    const pfns = p.mm.pin(Number(va), 1024, true);
    expect(pfns[0]! % 512).toBe(0);
    for (let i = 1; i < 512; i++) expect(pfns[i]).toBe(pfns[0]! + i);
    expect(pfns[512]! % 512).toBe(0);
    expect(h.frames.isCompound(pfns[3]!)).toBe(true);
  });

  it('shares memfd pages between mappings; MAP_PRIVATE copies a page on first write or pin', () => {
    const h = host();
    const p = h.spawnProcess();
    const fd = p.memfdCreate('buf');
    p.ftruncate(fd, 8192);
    const a = p.mmap(8192, { fd, shared: true });
    const b = p.mmap(8192, { fd, shared: true });
    p.memWrite(a + 4096n, bytes(7));
    expect(p.memRead(b + 4096n, 1)).toEqual(bytes(7));
    const priv = p.mmap(8192, { fd });
    expect(p.memRead(priv + 4096n, 1)).toEqual(bytes(7));
    const [pinned] = p.mm.pin(Number(priv) + 4096, 1, false);
    expect(pinned).not.toBe(p.mm.fault(Number(a) + 4096, false));
    p.memWrite(priv + 4096n, bytes(8));
    expect(p.mm.fault(Number(priv) + 4096, true)).toBe(pinned);
    expect(p.memRead(a + 4096n, 1)).toEqual(bytes(7));
    p.close(fd);
    expect(p.memRead(a + 4096n, 1)).toEqual(bytes(7));
  });

  it('reports mm pinned/locked accounting like /proc/PID/status', () => {
    const p = host().spawnProcess();
    p.pinnedVm = 3;
    p.lockedVm = 1;
    expect(p.status()).toEqual({ VmPin: 12, VmLck: 4 });
  });
});

describe('file descriptors', () => {
  const counted = () => {
    const log: string[] = [];
    const ops: FileOps = {
      name: 'test',
      ioctl: (_f, req) => req + 1,
      poll: () => POLLOUT,
      release: (f) => log.push(`release ${f.path}`),
    };
    return { log, ops };
  };

  it('opens registered nodes at the lowest free fd and refuses others', () => {
    const h = host();
    const { log, ops } = counted();
    h.vfs.register('/dev/test', () => new OpenFile(ops, null, '/dev/test'));
    const p = h.spawnProcess();
    const a = p.open('/dev/test');
    const b = p.open('/dev/test');
    expect([a, b]).toEqual([3, 4]);
    p.close(a);
    expect(p.open('/dev/test')).toBe(3);
    expect(() => p.open('/dev/nothing')).toThrowError(expect.objectContaining({ code: 'ENOENT', syscall: 'open' }));
    expect(() => p.close(99)).toThrowError(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
    expect(() => p.ioctl(99, 1)).toThrowError(expect.objectContaining({ code: 'EBADF' }));
    expect(p.ioctl(b, 41)).toBe(42);
    expect(p.poll(b, POLLIN | POLLOUT)).toBe(POLLOUT);
    expect(() => p.read(b, 8)).toThrowError(expect.objectContaining({ code: 'EINVAL', syscall: 'read' }));
    expect(log).toEqual(['release /dev/test']);
    expect(() => h.vfs.register('/dev/test', () => new OpenFile(ops, null, 'x'))).toThrow(/already registered/);
  });

  it('releases a file when its last descriptor, inherited copy or mapping goes', () => {
    const h = host();
    const { log, ops } = counted();
    const frame = h.frames.allocFrame();
    h.mem.setU8(frame * 4096, 0x5a);
    const mappable: FileOps = { ...ops, mmap: () => ({ obj: MemObject.pfnmap(h.frames, h.mem, [frame]), pgoff: 0 }) };
    h.vfs.register('/dev/plain', () => new OpenFile(ops, null, '/dev/plain'));
    h.vfs.register('/dev/mappable', () => new OpenFile(mappable, null, '/dev/mappable'));
    const p = h.spawnProcess();
    const fd = p.open('/dev/plain');
    const d = p.dup(fd);
    const c = p.fork();
    p.close(fd);
    p.close(d);
    expect(log).toEqual([]);
    c.exit();
    expect(log).toEqual(['release /dev/plain']);
    expect(() => p.ioctl(fd, 0)).toThrowError(expect.objectContaining({ code: 'EBADF' }));

    const m = p.open('/dev/mappable');
    const va = p.mmap(4096, { fd: m, shared: true });
    p.close(m);
    expect(log).toEqual(['release /dev/plain']);
    expect(p.memRead(va, 1)).toEqual(bytes(0x5a));
    p.munmap(va, 4096);
    expect(log).toEqual(['release /dev/plain', 'release /dev/mappable']);
    expect(h.frames.isAllocated(frame)).toBe(true);
  });

  it('answers ENOTTY for ioctls on files without them and ENODEV for mmap', () => {
    const h = host();
    h.vfs.register('/dev/bare', () => new OpenFile({ name: 'bare' }, null, '/dev/bare'));
    const p = h.spawnProcess();
    const fd = p.open('/dev/bare');
    expect(() => p.ioctl(fd, 0x3b80, {})).toThrowError(expect.objectContaining({ code: 'ENOTTY' }));
    expect(() => p.mmap(4096, { fd, shared: true })).toThrowError(expect.objectContaining({ code: 'ENODEV' }));
    p.exit();
    expect(() => p.open('/dev/bare')).toThrowError(expect.objectContaining({ code: 'ESRCH' }));
  });
});
