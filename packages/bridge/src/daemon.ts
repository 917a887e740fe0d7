// The bridge daemon: a Unix socket in a private directory, one connection per real process.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iommufdSubsystem } from '@iommu-lab/iommufd';
import type { Host } from '@iommu-lab/platform';
import { IOMMU_TEST_CMD } from '@iommu-lab/selftest';
import { processAlive } from './proc-maps.js';
import { REQ_HDR_SIZE } from './protocol.js';
import { BridgeState } from './state.js';

/** A frame larger than this is garbage: the connection is dropped. */
const MAX_FRAME = 1 << 20;

/** The fault-injection knobs iommufd_fail_nth writes under /sys/kernel/debug (debugfs). */
const DEBUGFS_FILES = ['failslab/ignore-gfp-wait', 'failslab/verbose', 'fail_page_alloc/ignore-gfp-wait', 'fail_page_alloc/ignore-gfp-highmem', 'fail_page_alloc/verbose'];

export interface BridgeDaemonOptions {
  /** Where diagnostics go (internal errors of the simulator). */
  log?: (line: string) => void;
}

interface Conn {
  pid: number;
  buf: Buffer;
}

export class BridgeDaemon {
  readonly dir: string;
  readonly socketPath: string;
  readonly debugfsDir: string;
  readonly state: BridgeState;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly host: Host,
    opts: BridgeDaemonOptions = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'iommu-lab-bridge-'));
    this.socketPath = join(this.dir, 'sock');
    this.debugfsDir = join(this.dir, 'debugfs');
    for (const f of DEBUGFS_FILES) {
      mkdirSync(join(this.debugfsDir, f, '..'), { recursive: true });
      writeFileSync(join(this.debugfsDir, f), 'Y\n');
    }
    const mock = iommufdSubsystem(host).ops.has(IOMMU_TEST_CMD & 0xff);
    this.state = new BridgeState(host, { extraPaths: mock ? ['/sys/bus/iommufd_mock'] : [], log: opts.log });
  }

  /** The device nodes the shim sends here; everything else stays with the real kernel. */
  get nodes(): string[] {
    return this.host.vfs.list('/dev/');
  }

  async start(): Promise<void> {
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.server = server;
    // A process whose connection closed may still be exiting; its simulated side exits once it is gone.
    this.timer = setInterval(() => this.state.reapDead(), 50);
    this.timer.unref();
  }

  /** The environment a program runs in under the bridge. */
  env(shim: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return {
      ...base,
      LD_PRELOAD: base.LD_PRELOAD ? `${shim}:${base.LD_PRELOAD}` : shim,
      IOMMU_LAB_BRIDGE: this.socketPath,
      IOMMU_LAB_BRIDGE_NODES: this.nodes.join(':'),
      IOMMU_LAB_BRIDGE_DEBUGFS: this.debugfsDir,
      IOMMU_LAB_BRIDGE_DAEMON: String(process.pid),
    };
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    const c: Conn = { pid: 0, buf: Buffer.alloc(0) };
    s.on('data', (chunk: Buffer) => {
      c.buf = c.buf.length ? Buffer.concat([c.buf, chunk]) : chunk;
      while (c.buf.length >= 4) {
        const len = c.buf.readUInt32LE(0);
        if (len < REQ_HDR_SIZE || len > MAX_FRAME) {
          s.destroy();
          return;
        }
        if (c.buf.length < len) break;
        const frame = c.buf.subarray(0, len);
        c.buf = c.buf.subarray(len);
        if (c.pid === 0) c.pid = frame.readInt32LE(8);
        s.write(this.state.handle(frame));
      }
    });
    s.on('error', () => s.destroy());
    s.on('close', () => {
      this.sockets.delete(s);
      const p = this.state.procs.get(c.pid);
      if (p && !processAlive(c.pid, p.startTime)) this.state.exitProc(c.pid);
    });
  }

  /** Stops serving: connections close, every simulated process exits, the private directory goes. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.state.shutdown();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
