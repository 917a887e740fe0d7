import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const packages = resolve(__dirname, '../..');
// Examples of packages below the app layer that need a vendor driver (which they may not import) live here.
const appExamples = resolve(__dirname, 'readme-examples');

/** The example a package's README shows: its own src/readme.example.ts, or ours named after it. */
function exampleOf(pkg: string): string | undefined {
  const own = join(packages, pkg, 'src', 'readme.example.ts');
  if (existsSync(own)) return own;
  const app = join(appExamples, `${pkg}.example.ts`);
  return existsSync(app) ? app : undefined;
}

// Each package README opens its usage section with its example, verbatim; the example runs here.
const withExamples = readdirSync(packages).filter((p) => exampleOf(p) !== undefined);

describe('package README examples', () => {
  it('exist for every package, the vendor-free layers included', () => {
    expect(withExamples).toEqual(expect.arrayContaining(['platform', 'iommufd', 'vfio', 'viommu']));
  });

  it('in readme-examples/ each names a package', () => {
    const names = readdirSync(appExamples).map((f) => f.replace(/\.example\.ts$/, ''));
    expect(names.filter((n) => !existsSync(join(packages, n, 'README.md')))).toEqual([]);
  });

  it.each(withExamples)('%s: README shows its example verbatim and the example runs', async (pkg) => {
    const readme = readFileSync(join(packages, pkg, 'README.md'), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme);
    expect(block, `${pkg}/README.md has no \`\`\`ts block`).not.toBeNull();
    const example = exampleOf(pkg)!;
    expect(block![1]!.trim()).toBe(readFileSync(example, 'utf8').trim());
    await import(example);
  });
});
