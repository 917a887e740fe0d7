// Positional reads and writes of real memory (/proc/PID/mem) and real files, failing softly.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

/** Reads exactly dst.length bytes at `pos`; false on a short read or any error (unmapped memory: EIO). */
export function preadFull(fd: number, dst: Uint8Array, pos: number): boolean {
  try {
    let done = 0;
    while (done < dst.length) {
      const n = readSync(fd, dst, done, dst.length - done, pos + done);
      if (n <= 0) return false;
      done += n;
    }
    return true;
  } catch {
    return false;
  }
}

export function pwriteFull(fd: number, src: Uint8Array, pos: number): boolean {
  try {
    let done = 0;
    while (done < src.length) {
      const n = writeSync(fd, src, done, src.length - done, pos + done);
      if (n <= 0) return false;
      done += n;
    }
    return true;
  } catch {
    return false;
  }
}

/** Opens a path, returning -1 instead of throwing. */
export function tryOpen(path: string, flags: string): number {
  try {
    return openSync(path, flags);
  } catch {
    return -1;
  }
}

export function tryClose(fd: number): void {
  if (fd < 0) return;
  try {
    closeSync(fd);
  } catch {
    // already gone
  }
}

/** The device of an inode as /proc/PID/maps prints it ("fd:01"): major and minor in hex. */
export function devString(dev: number): string {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/** Size in bytes of an open real file, or -1. */
export function fileSize(fd: number): number {
  try {
    return fstatSync(fd).size;
  } catch {
    return -1;
  }
}
