// The LD_PRELOAD shim: built from shim/*.c with the system's C compiler on first use, cached by source hash.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCES = ['protocol.h', 'shim.h', 'conn.c', 'creds.c', 'fds.c', 'mem.c', 'paths.c'];
export const SHIM_NAME = 'libiommu-lab-bridge.so';

/** packages/bridge/shim, from src/ (tests) or dist/ (the built package). */
export function shimSourceDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'shim');
}

function defaultCacheDir(): string {
  if (process.env.IOMMU_LAB_CACHE) return join(process.env.IOMMU_LAB_CACHE, 'bridge');
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'iommu-lab', 'bridge');
}

export interface ShimBuildOptions {
  cacheDir?: string;
  /** The C compiler (default: $CC or gcc). */
  cc?: string;
}

/** Returns the path of the built shim, compiling it when the cache has none for these sources. */
export function buildShim(opts: ShimBuildOptions = {}): string {
  const src = shimSourceDir();
  const cc = opts.cc ?? process.env.CC ?? 'gcc';
  const h = createHash('sha256').update(cc);
  for (const f of SOURCES) h.update(f).update(readFileSync(join(src, f)));
  const key = h.digest('hex').slice(0, 16);
  let dir = join(opts.cacheDir ?? defaultCacheDir(), key);
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    dir = join(tmpdir(), 'iommu-lab-bridge-cache', key);
    mkdirSync(dir, { recursive: true });
  }
  const out = join(dir, SHIM_NAME);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}.tmp`;
  const cfiles = SOURCES.filter((f) => f.endsWith('.c')).map((f) => join(src, f));
  execFileSync(cc, ['-shared', '-fPIC', '-O2', '-Wall', '-o', tmp, ...cfiles, '-ldl', '-lpthread'], { stdio: ['ignore', 'ignore', 'pipe'] });
  renameSync(tmp, out);
  return out;
}
