import { describe, expect, it } from 'vitest';
import { parseMaps, parseStat, procLife, processAlive, readMaps } from './proc-maps.js';

describe('/proc/PID/maps', () => {
  it('parses each field of proc(5) lines', () => {
    const text = [
      '55d0c8a00000-55d0c8a02000 r--p 00000000 fd:01 1048602                    /usr/bin/cat',
      '7f1c2a000000-7f1c2a010000 rw-s 00002000 00:01 4105                       /dev/zero (deleted)',
      '7f1c2a200000-7f1c2a201000 rw-s 00000000 00:01 77                         /memfd:buffer (deleted)',
      '7ffd5d1f3000-7ffd5d214000 rw-p 00000000 00:00 0                          [stack]',
      '7f1c2b000000-7f1c2b001000 ---p 00000000 00:00 0 ',
    ].join('\n');
    const v = parseMaps(text);
    expect(v).toHaveLength(5);
    expect(v[0]).toEqual({ start: 0x55d0c8a00000, end: 0x55d0c8a02000, read: true, write: false, exec: false, shared: false, offset: 0, dev: 'fd:01', inode: 1048602, path: '/usr/bin/cat' });
    // "rw-s" with offset 0x2000: a shared mapping starting at page 2 of its inode.
    expect(v[1]).toMatchObject({ read: true, write: true, shared: true, offset: 0x2000, dev: '00:01', inode: 4105, path: '/dev/zero (deleted)' });
    expect(v[2]!.path).toBe('/memfd:buffer (deleted)');
    expect(v[3]).toMatchObject({ inode: 0, path: '[stack]', shared: false });
    expect(v[4]).toMatchObject({ read: false, write: false, path: '' });
  });

  it('reads this process', () => {
    const maps = readMaps(process.pid);
    const heap = maps.find((m) => m.path === '[stack]');
    expect(heap?.write).toBe(true);
  });
});

describe('/proc/PID/stat', () => {
  it('finds fields 3, 9 and 22 after a command name with spaces and parentheses', () => {
    // Fields 4..21 are filler here; field 9 (flags) = 0x400044, field 22 (starttime) = 777.
    const fields = ['S', '1', '2', '3', '4', '5', String(0x400044), '7', '8', '9', '10', '11', '12', '13', '14', '15', '16', '17', '18', '777'];
    const s = parseStat(`123 (a) b (c) ${fields.join(' ')} 0 0`);
    expect(s).toEqual({ state: 'S', flags: 0x400044, startTime: 777 });
  });

  it('tells a live process from a reused pid', () => {
    const me = procLife(process.pid)!;
    expect(me.state).toMatch(/^[RS]$/);
    expect(processAlive(process.pid, me.startTime)).toBe(true);
    expect(processAlive(process.pid, me.startTime + 1)).toBe(false);
    expect(procLife(2 ** 22 + 1)).toBeNull();
  });
});
