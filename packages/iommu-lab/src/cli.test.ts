import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from './cli.js';

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
  const error = vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
  try {
    const code = await main(['node', 'iommu-lab', ...args]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('iommu-lab CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-cli-'));

  it('info prints the topology of a spec file, as text and JSON', async () => {
    const file = join(dir, 'plain.json');
    writeFileSync(file, JSON.stringify({ memory: '512M', devices: [{ bdf: '0000:07:00.0' }] }));
    const text = await run('info', file);
    expect(text.code).toBe(0);
    expect(text.out).toContain('memory   512 MiB');
    expect(text.out).toContain('0000:07:00.0  rid 0x0700  iommu (none)');
    const json = await run('info', file, '--json');
    expect(JSON.parse(json.out).devices[0]).toMatchObject({ bdf: '0000:07:00.0', rid: '0x0700' });
  });

  it('refuses a bad spec with a message naming the field and exit code 2', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ devices: [{ bdf: 'zz' }] }));
    const r = await run('info', file);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^iommu-lab: devices\[0\]\.bdf: must be a PCI address/);
    const missing = await run('info', join(dir, 'missing.json'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read host spec .*missing\.json: ENOENT/);
  });
});
