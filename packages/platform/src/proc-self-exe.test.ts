import { describe, expect, it } from 'vitest';
import { errnoOf as errno } from './errno.js';
import { Host } from './host.js';
import { O_RDONLY, O_RDWR } from './vfs.js';


describe('/proc/self/exe', () => {
  it('opens read-only only (ETXTBSY for writing) and maps the shared image', () => {
    const host = new Host({ memory: 16 * 2 ** 20 });
    const p = host.spawnProcess();
    expect(errno(() => p.open('/proc/self/exe', O_RDWR))).toBe('ETXTBSY');
    const fd = p.open('/proc/self/exe', O_RDONLY);
    const shared = p.mmap(4096, { fd, shared: true, prot: 'r' });
    expect([...p.memRead(shared, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]); // "\x7fELF"
    expect(errno(() => p.mmap(4096, { fd, shared: true }))).toBe('EACCES');
  });

  it('gives private writable mappings their own copy; the image and other mappers do not see the write', () => {
    const host = new Host({ memory: 16 * 2 ** 20 });
    const p = host.spawnProcess();
    const q = host.spawnProcess();
    const fd = p.open('/proc/self/exe', O_RDONLY);
    const priv = p.mmap(4096, { fd });
    p.close(fd);
    p.memWrite(priv, Uint8Array.of(1, 1, 1, 1));
    expect([...p.memRead(priv, 4)]).toEqual([1, 1, 1, 1]);
    const qfd = q.open('/proc/self/exe', O_RDONLY);
    const other = q.mmap(4096, { fd: qfd, prot: 'r' });
    expect([...q.memRead(other, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
  });
});
