import { lstatSync } from 'node:fs';
import { Host, OpenFile } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { installAt, realFdOpen, realFdOps } from './fd-table.js';
import { MirrorRegistry } from './registry.js';
import { RemoteMm } from './remote-mm.js';
import { RemoteProcess } from './remote-process.js';

describe('descriptor numbers', () => {
  it('installs at a chosen number and leaves the holes below it free', () => {
    const p = new Host({ memory: 2 ** 21 }).spawnProcess();
    const f = new OpenFile(realFdOps, null, 'x');
    installAt(6, f, (x) => p.installFile(x), (n) => p.close(n));
    expect(p.openFds).toEqual([6]);
    expect(f.references).toBe(1);
    expect(p.installFile(new OpenFile(realFdOps, null, 'y'))).toBe(3);
  });

  it('sees the real process descriptors', () => {
    expect(realFdOpen(process.pid, 1)).toBe(true);
    expect(realFdOpen(process.pid, 1 << 20)).toBe(false);
  });

  it('gives a kernel-installed file the lowest number free in the simulated and the real table', () => {
    const host = new Host({ memory: 2 ** 21 });
    const mm = new RemoteMm(new MirrorRegistry(host));
    const p = new RemoteProcess(host, host.user(0), { mm });
    mm.attach(process.pid);
    // The worker's own descriptors (checked one by one, as the daemon does, without opening a directory).
    let want = 3;
    while (lstatSync(`/proc/self/fd/${want}`, { throwIfNoEntry: false })) want++;
    expect(p.installFile(new OpenFile(realFdOps, null, 'a'))).toBe(want);
    let next = want + 1;
    while (lstatSync(`/proc/self/fd/${next}`, { throwIfNoEntry: false })) next++;
    expect(p.installFile(new OpenFile(realFdOps, null, 'b'))).toBe(next);
    p.exit();
  });
});
