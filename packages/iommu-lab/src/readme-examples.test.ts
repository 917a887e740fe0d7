import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const packages = resolve(__dirname, '../..');

// Each package README opens its usage section with src/readme.example.ts, verbatim; the example runs here.
const withExamples = readdirSync(packages).filter((p) => existsSync(join(packages, p, 'src', 'readme.example.ts')));

describe('package README examples', () => {
  it('exist for the packages that have code', () => {
    expect(withExamples).toContain('platform');
  });

  it.each(withExamples)('%s: README shows src/readme.example.ts verbatim and the example runs', async (pkg) => {
    const readme = readFileSync(join(packages, pkg, 'README.md'), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme);
    expect(block, `${pkg}/README.md has no \`\`\`ts block`).not.toBeNull();
    const example = readFileSync(join(packages, pkg, 'src', 'readme.example.ts'), 'utf8');
    expect(block![1]!.trim()).toBe(example.trim());
    await import(join(packages, pkg, 'src', 'readme.example.ts'));
  });
});
