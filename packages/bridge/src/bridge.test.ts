import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installIommufd } from '@iommu-lab/iommufd';
import { Host } from '@iommu-lab/platform';
import { installSelftest } from '@iommu-lab/selftest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeDaemon } from './daemon.js';
import { encodeRequest, OP } from './protocol.js';
import { buildShim, shimSourceDir } from './shim-build.js';

let dir: string;
let shim: string;
let client: string;
let host: Host;
let daemon: BridgeDaemon;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bridge-test-'));
  shim = buildShim({ cacheDir: join(dir, 'cache') });
  client = join(dir, 'client');
  execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-o', client, join(shimSourceDir(), '..', 'test-programs', 'client.c')]);
  host = new Host({ memory: 512 * 2 ** 20 });
  installIommufd(host);
  installSelftest(host);
  daemon = new BridgeDaemon(host, { log: (l) => console.error(l) });
  await daemon.start();
}, 60_000);

afterAll(async () => {
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Ran {
  code: number | null;
  signal: string | null;
  lines: string[];
}

/** Runs the test client under the shim; `onLine` sees its output as it comes. */
function run(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(client, args, { env: daemon.env(shim), stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        onLine?.(line, () => child.kill('SIGKILL'));
      }
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, lines }));
  });
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function expectClean(ran: Ran): void {
  expect(ran.lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
  expect(ran.lines.at(-1)).toBe('done');
  expect(ran.code).toBe(0);
  expect(daemon.state.stats.internalErrors).toEqual([]);
}

describe('the bridge serves real processes', () => {
  it('keeps pinned frames and real pages coherent both ways, with VmPin in /proc/PID/status', async () => {
    const used = host.frames.used;
    const ran = await run(['coherence']);
    expectClean(ran);
    expect(ran.lines).toContain('ok program reads the bytes the kernel wrote, and only those');
    await until(() => daemon.state.procs.size === 0);
    expect(host.frames.used).toBe(used);
  });

  it('returns the kernel errnos for bad pointers, bad structs and unknown commands', async () => {
    expectClean(await run(['errnos']));
  });

  it('follows dup, dup2 and close on simulated descriptors', async () => {
    expectClean(await run(['dups']));
  });

  it('forks: the child inherits the files, shared pages keep one identity, pins outlive the child', async () => {
    const before = daemon.state.stats.byOp[OP.FORK_PREPARE] ?? 0;
    expectClean(await run(['forks']));
    expect(daemon.state.stats.byOp[OP.FORK_PREPARE]).toBe(before + 1);
  });

  it('returns descriptors from ioctls as real ones that poll (with real ones) and read reach', async () => {
    expectClean(await run(['poll']));
  });

  it('serves /proc/self/task/TID/fail-nth from the fault injector', async () => {
    expectClean(await run(['failnth']));
    expect(host.faults.armed).toBe(false);
  });

  it('serves MAP_HUGETLB from ordinary pages that the simulator pins as compound huge pages', async () => {
    let huge = 0;
    const ran = await run(['hugetlb'], (line, kill) => {
      if (!line.startsWith('pid ')) return;
      for (const o of daemon.state.registry.objects) {
        if (o.kind !== 'hugetlb') continue;
        for (const pfn of o.populated.values()) if (host.frames.isCompound(pfn) && host.frames.pinCount(pfn) === 1) huge++;
      }
      kill();
    });
    expect(ran.lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    // 4 MiB pinned: 1024 frames in two compound blocks.
    expect(huge).toBe(1024);
    await until(() => daemon.state.procs.size === 0);
  });

  it('gives the program root credentials of the simulated machine; a capability it drops is dropped there', async () => {
    let caps: string[] = [];
    const ran = await run(['caps'], (line, kill) => {
      if (!line.startsWith('pid ')) return;
      caps = [...(daemon.state.procs.get(Number(line.slice(4)))?.capabilities ?? [])].sort();
      kill();
    });
    expect(ran.lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(caps).toEqual(['CAP_SYS_ADMIN', 'CAP_SYS_RAWIO', 'CAP_SYS_RESOURCE']);
  });

  it('cleans up after a process that dies holding pins, an access and an iommufd, and keeps serving', async () => {
    const used = host.frames.used;
    const ran = await run(['crash']);
    expect(ran.signal).toBe('SIGABRT');
    await until(() => daemon.state.procs.size === 0);
    expect(host.frames.used).toBe(used);
    // A second thread is pinning and unpinning when the process dies.
    const mid = await run(['crash-mid']);
    expect(mid.signal).toBe('SIGABRT');
    await until(() => daemon.state.procs.size === 0);
    expect(host.frames.used).toBe(used);
    expect(daemon.state.stats.internalErrors).toEqual([]);
    expectClean(await run(['dups']));
  });

  it('keeps the descriptors of a process across execve', async () => {
    const ran = await run(['exec']);
    expectClean(ran);
    expect(ran.lines).toContain('ok the iommufd survives exec');
  });
});

describe('the daemon protocol', () => {
  function open(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect(daemon.socketPath, () => resolve(s));
      s.once('error', reject);
    });
  }

  function ask(s: Socket, frame: Buffer): Promise<bigint> {
    return new Promise((resolve) => {
      s.once('data', (d: Buffer) => resolve(d.readBigInt64LE(8)));
      s.write(frame);
    });
  }

  it('drops a connection that sends garbage and answers malformed requests with errnos', async () => {
    const bad = await open();
    const closed = new Promise((r) => bad.once('close', r));
    bad.write(Buffer.from([8, 0, 0, 0, 1, 2, 3, 4]));
    await closed;

    const s = await open();
    const pid = process.pid;
    expect(await ask(s, encodeRequest(OP.HELLO, pid, new Uint8Array(16)))).toBe(0n);
    // No simulated descriptors yet: EBADF.
    const ioctl = Buffer.alloc(24);
    expect(await ask(s, encodeRequest(OP.IOCTL, pid, ioctl))).toBe(-9n);
    expect(await ask(s, encodeRequest(99, pid, new Uint8Array(0)))).toBe(-38n);
    // A payload shorter than the op needs: EINVAL.
    expect(await ask(s, encodeRequest(OP.IOCTL, pid, new Uint8Array(4)))).toBe(-22n);
    expect(await ask(s, encodeRequest(OP.ACCESS, pid, Buffer.from('/sys/bus/iommufd_mock\0')))).toBe(0n);
    expect(await ask(s, encodeRequest(OP.ACCESS, pid, Buffer.from('/sys/bus/nothing\0')))).toBe(-2n);
    s.destroy();
    expectClean(await run(['dups']));
  });
});
