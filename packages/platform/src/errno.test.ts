import { describe, expect, it } from 'vitest';
import { ErrnoError, errnoName, errnoNumber, fail, isErrnoError } from './errno.js';

describe('errno', () => {
  it('uses the Linux x86-64 numbers of asm-generic/errno-base.h and errno.h', () => {
    const linux: [Parameters<typeof errnoNumber>[0], number][] = [
      ['EPERM', 1], ['ENOENT', 2], ['EIO', 5], ['ENXIO', 6], ['E2BIG', 7], ['EBADF', 9], ['ENOMEM', 12],
      ['EFAULT', 14], ['EBUSY', 16], ['EEXIST', 17], ['ENODEV', 19], ['EINVAL', 22], ['ENOTTY', 25],
      ['ENOSPC', 28], ['ESPIPE', 29], ['EBADE', 52], ['EOVERFLOW', 75], ['EBADFD', 77], ['EMSGSIZE', 90],
      ['EOPNOTSUPP', 95], ['EADDRINUSE', 98],
    ];
    for (const [name, n] of linux) {
      expect(errnoNumber(name)).toBe(n);
      expect(errnoName(n)).toBe(name);
      expect(errnoName(-n)).toBe(name);
    }
    expect(errnoName(4095)).toBeUndefined();
  });

  it('follows the Node SystemError shape: code, negative errno, syscall', () => {
    const e = new ErrnoError('ENOENT', 'open', '/dev/nope');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(-2);
    expect(e.syscall).toBe('open');
    expect(e.message).toBe('ENOENT: No such file or directory, open (/dev/nope)');
    expect(isErrnoError(e, 'ENOENT')).toBe(true);
    expect(isErrnoError(e, 'EINVAL')).toBe(false);
    expect(isErrnoError(new Error('x'))).toBe(false);
    expect(e.withSyscall('read').syscall).toBe('read');
    expect(() => fail('EINVAL', 'length is 0')).toThrowError(expect.objectContaining({ code: 'EINVAL', errno: -22, syscall: 'ioctl' }));
  });
});
