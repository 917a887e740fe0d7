// Linux x86-64 errno numbers (include/uapi/asm-generic/errno-base.h, errno.h) and strerror texts.
export const ERRNO = {
  EPERM: [1, 'Operation not permitted'],
  ENOENT: [2, 'No such file or directory'],
  ESRCH: [3, 'No such process'],
  EINTR: [4, 'Interrupted system call'],
  EIO: [5, 'Input/output error'],
  ENXIO: [6, 'No such device or address'],
  E2BIG: [7, 'Argument list too long'],
  EBADF: [9, 'Bad file descriptor'],
  EAGAIN: [11, 'Resource temporarily unavailable'],
  ENOMEM: [12, 'Cannot allocate memory'],
  EACCES: [13, 'Permission denied'],
  EFAULT: [14, 'Bad address'],
  EBUSY: [16, 'Device or resource busy'],
  EEXIST: [17, 'File exists'],
  ENODEV: [19, 'No such device'],
  EINVAL: [22, 'Invalid argument'],
  EMFILE: [24, 'Too many open files'],
  ENOTTY: [25, 'Inappropriate ioctl for device'],
  ETXTBSY: [26, 'Text file busy'],
  ENOSPC: [28, 'No space left on device'],
  ESPIPE: [29, 'Illegal seek'],
  EROFS: [30, 'Read-only file system'],
  ERANGE: [34, 'Numerical result out of range'],
  EDEADLK: [35, 'Resource deadlock avoided'],
  ENOSYS: [38, 'Function not implemented'],
  EBADE: [52, 'Invalid exchange'],
  ENODATA: [61, 'No data available'],
  EOVERFLOW: [75, 'Value too large for defined data type'],
  EBADFD: [77, 'File descriptor in bad state'],
  EMSGSIZE: [90, 'Message too long'],
  EOPNOTSUPP: [95, 'Operation not supported'],
  EADDRINUSE: [98, 'Address already in use'],
  ETIMEDOUT: [110, 'Connection timed out'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrnoName = keyof typeof ERRNO;

/** The positive Linux errno number of a name: errnoNumber('ENOENT') === 2. */
export function errnoNumber(code: ErrnoName): number {
  return ERRNO[code][0];
}

/** The errno name of a positive Linux errno number, or undefined when the table lacks it. */
export function errnoName(errno: number): ErrnoName | undefined {
  const n = Math.abs(errno);
  for (const name of Object.keys(ERRNO) as ErrnoName[]) if (ERRNO[name][0] === n) return name;
  return undefined;
}

/**
 * A failed system call, after Node's SystemError: code 'ENOENT', errno -2, syscall 'ioctl'.
 * `detail` says which field or object was wrong; the kernel itself only returns the number.
 */
export class ErrnoError extends Error {
  readonly code: ErrnoName;
  readonly errno: number;
  readonly syscall: string;
  readonly detail: string | undefined;

  constructor(code: ErrnoName, syscall = 'ioctl', detail?: string) {
    super(`${code}: ${ERRNO[code][1]}, ${syscall}${detail ? ` (${detail})` : ''}`);
    this.name = 'ErrnoError';
    this.code = code;
    this.errno = -ERRNO[code][0];
    this.syscall = syscall;
    this.detail = detail;
  }

  /** The same errno reported for another system call (e.g. an ioctl handler reused by read()). */
  withSyscall(syscall: string): ErrnoError {
    return syscall === this.syscall ? this : new ErrnoError(this.code, syscall, this.detail);
  }
}

export function isErrnoError(e: unknown, code?: ErrnoName): e is ErrnoError {
  return e instanceof ErrnoError && (code === undefined || e.code === code);
}

/** Throws ErrnoError(code) for the current system call; `detail` names what was wrong. */
export function fail(code: ErrnoName, detail?: string, syscall = 'ioctl'): never {
  throw new ErrnoError(code, syscall, detail);
}

/** The errno name `call` fails with, or 'ok' when it returns; any other exception propagates (for tests and tools). */
export function errnoOf(call: () => unknown): ErrnoName | 'ok' {
  try {
    call();
  } catch (e) {
    if (e instanceof ErrnoError) return e.code;
    throw e;
  }
  return 'ok';
}
