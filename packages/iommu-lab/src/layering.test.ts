import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../../..');

async function boundaryErrors(fromPackage: string, importPath: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const code = `import * as x from '${importPath}';\nexport const y = x;\n`;
  const [r] = await eslint.lintText(code, { filePath: join(root, 'packages', fromPackage, 'src', 'layering-probe.ts') });
  return r!.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
}

describe('layering (DESIGN.md) is enforced at lint time', () => {
  it('rejects a layer importing one it may not (core -> hw, hw -> hw)', async () => {
    expect((await boundaryErrors('ioasid', '@iommu-lab/hw-smmuv3')).join('\n')).toMatch(
      /tagged with "layer:core" can only depend on libs tagged with "layer:core", "layer:platform"/,
    );
    expect((await boundaryErrors('hw-smmuv3', '@iommu-lab/hw-vtd')).join('\n')).toMatch(
      /tagged with "layer:hw" can only depend on libs tagged with "layer:core", "layer:platform"/,
    );
  });

  it('rejects platform depending on anything above it (a cycle as well)', async () => {
    const errs = await boundaryErrors('platform', '@iommu-lab/iommu-core');
    expect(errs.join('\n')).toMatch(/Circular dependency between "platform" and "iommu-core"/);
  });

  it('allows a downward import', async () => {
    expect(await boundaryErrors('iommu-core', '@iommu-lab/platform')).toEqual([]);
  });

  it('lets the VMM use only the format subpath of a hw package', async () => {
    const { vmmFormatOnly } = (await import(pathToFileURL(join(root, 'eslint.config.mjs')).href)) as { vmmFormatOnly: Linter.Config };
    const eslint = new ESLint({
      cwd: root,
      overrideConfigFile: true,
      overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, vmmFormatOnly],
    });
    const lint = async (spec: string) => {
      const [r] = await eslint.lintText(`import * as x from '${spec}';\nexport const y = x;\n`, { filePath: join(root, 'packages/viommu/src/probe.ts') });
      return r!.messages.filter((m) => m.ruleId === 'no-restricted-imports').length;
    };
    expect(await lint('@iommu-lab/hw-vtd/format')).toBe(0);
    expect(await lint('@iommu-lab/hw-smmuv3/format')).toBe(0);
    expect(await lint('@iommu-lab/hw-vtd')).toBe(1);
    expect(await lint('@iommu-lab/hw-vtd/driver')).toBe(1);
    expect(await lint('@iommu-lab/hw-smmuv3/bench')).toBe(1);
  });
});
