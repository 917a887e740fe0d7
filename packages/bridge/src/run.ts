// Runs a real program under the bridge: the daemon up, the program with the shim preloaded, the daemon down.
import { spawn, type StdioOptions } from 'node:child_process';
import type { Host } from '@iommu-lab/platform';
import { BridgeDaemon } from './daemon.js';
import { buildShim } from './shim-build.js';
import type { BridgeStats } from './state.js';

export interface RunOptions {
  /** The program and its arguments. */
  argv: readonly string[];
  stdio?: StdioOptions;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A prebuilt shim (default: built or taken from the cache). */
  shim?: string;
  log?: (line: string) => void;
}

export interface RunResult {
  /** The exit status, or null when a signal ended the program. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stats: BridgeStats;
}

export async function runUnderBridge(host: Host, opts: RunOptions): Promise<RunResult> {
  const shim = opts.shim ?? buildShim();
  const daemon = new BridgeDaemon(host, { log: opts.log });
  await daemon.start();
  try {
    const [cmd, ...args] = opts.argv;
    if (!cmd) throw new Error('no program to run');
    const child = spawn(cmd, args, { stdio: opts.stdio ?? 'inherit', env: daemon.env(shim, opts.env), cwd: opts.cwd });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c, s) => resolve([c, s]));
    });
    return { code, signal, stats: daemon.state.stats };
  } finally {
    await daemon.stop();
  }
}
