import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './__tests__/helpers.js';


describe('iommu-lab CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-cli-'));

  it('info prints the topology of a spec file, as text and JSON', async () => {
    const file = join(dir, 'plain.json');
    writeFileSync(file, JSON.stringify({ memory: '512M', devices: [{ bdf: '0000:07:00.0' }] }));
    const text = await runCli('info', file);
    expect(text.code).toBe(0);
    expect(text.out).toContain('memory   512 MiB');
    expect(text.out).toContain('0000:07:00.0  rid 0x0700  iommu (none)');
    const json = await runCli('info', file, '--json');
    expect(JSON.parse(json.out).devices[0]).toMatchObject({ bdf: '0000:07:00.0', rid: '0x0700' });
  });

  it('refuses a bad spec with a message naming the field and exit code 2', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ devices: [{ bdf: 'zz' }] }));
    const r = await runCli('info', file);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^iommu-lab: devices\[0\]\.bdf: must be a PCI address/);
    const missing = await runCli('info', join(dir, 'missing.json'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read host spec .*missing\.json: ENOENT/);
  });

  it('selftest runs the iommufd suite as KTAP with kselftest filters, and --list lists it', async () => {
    // The first matching filter decides: -f first would take cmd_fail in too.
    expect((await runCli('selftest', '-f', 'iommufd', '-T', 'cmd_fail')).out).toContain('1..11');
    const r = await runCli('selftest', '-T', 'cmd_fail', '-f', 'iommufd');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines.slice(0, 2)).toEqual(['TAP version 13', '1..10']);
    expect(lines).toContain('ok 1 iommufd.simple_close');
    expect(r.out).not.toContain('cmd_fail');
    expect(lines.at(-1)).toBe('# Totals: pass:10 fail:0 xfail:0 xpass:0 skip:0 error:0');
    const one = await runCli('selftest', '-r', 'iommufd_ioas.mock_domain.ioas_area_destroy');
    expect(one.out).toContain('ok 1 iommufd_ioas.mock_domain.ioas_area_destroy');
    expect(one.out).toContain('1..1');
    const list = await runCli('selftest', '--list');
    expect(list.out.split('\n')[1]).toMatch(/^iommufd\s+simple_close$/);
  });

  it('selftest --fail-nth runs the eight iommufd_fail_nth.c scenarios', async () => {
    const r = await runCli('selftest', '--fail-nth');
    expect(r.code).toBe(0);
    expect(r.out.split('\n').filter((l) => l.startsWith('ok '))).toEqual(
      ['basic', 'map_domain', 'map_file_domain', 'map_two_domains', 'access_rw', 'access_pin', 'access_pin_domain', 'device'].map((t, i) => `ok ${i + 1} basic_fail_nth.${t}`),
    );
    expect(r.out).toContain('# Totals: pass:8 fail:0 xfail:0 xpass:0 skip:0 error:0');
  });

  it('selftest --vfio runs the VFIO cdev test on a device of the host', async () => {
    const file = join(dir, 'vfio.json');
    writeFileSync(
      file,
      JSON.stringify({
        iommus: [
          { id: 'smmu0', model: 'arm-smmuv3' },
          { id: 'mock0', model: 'iommufd-mock' },
        ],
        devices: [
          { bdf: '0000:02:00.0', iommu: 'smmu0' },
          { bdf: '0000:03:00.0', iommu: 'mock0' },
        ],
      }),
    );
    const r = await runCli('selftest', file, '--vfio', '0000:02:00.0');
    expect(r.code).toBe(0);
    expect(r.out).toContain('ok 1 vfio_cdev.bind');
    expect(r.out).toContain('# Totals: pass:6 fail:0');
    expect((await runCli('selftest', file, '--vfio')).out).toContain('# Totals: pass:6 fail:0');
    // The default machine's VT-d device.
    expect((await runCli('selftest', '--vfio', '0000:01:00.0')).out).toContain('# Totals: pass:6 fail:0');
    const bad = await runCli('selftest', file, '--vfio', '0000:09:00.0');
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('not ok 1 vfio_cdev.bind');
  });
});
