#!/usr/bin/env node
// Scaffolds packages/<folder> with the workspace's build, test, lint and typecheck wiring.
// usage: node tools/new-package.mjs <folder> <layer> [dep-folder ...] [--subpath name ...]
// A --subpath (e.g. format, bench) becomes an extra entry src/<name>.ts exported as ./<name>.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const subpaths = [];
for (let i = args.indexOf('--subpath'); i >= 0; i = args.indexOf('--subpath')) subpaths.push(...args.splice(i, 2).slice(1));
const [folder, layer, ...deps] = args;
if (!folder || !layer) {
  console.error('usage: node tools/new-package.mjs <folder> <layer> [dep-folder ...]');
  process.exit(2);
}
const root = join(import.meta.dirname, '..', 'packages', folder);
if (existsSync(join(root, 'package.json'))) {
  console.error(`packages/${folder} already has a package.json`);
  process.exit(1);
}
mkdirSync(join(root, 'src'), { recursive: true });
const name = folder === 'iommu-lab' ? 'iommu-lab' : `@iommu-lab/${folder}`;
const depName = (d) => (d === 'iommu-lab' ? 'iommu-lab' : `@iommu-lab/${d}`);
const pkg = {
  name,
  version: '0.1.0',
  type: 'module',
  license: 'MIT',
  exports: {
    '.': { '@iommu-lab/source': './src/index.ts', types: './dist/index.d.ts', import: './dist/index.js' },
    ...Object.fromEntries(
      subpaths.map((s) => [`./${s}`, { '@iommu-lab/source': `./src/${s}.ts`, types: `./dist/${s}.d.ts`, import: `./dist/${s}.js` }]),
    ),
    './package.json': './package.json',
  },
  main: './dist/index.js',
  types: './dist/index.d.ts',
  files: ['dist', 'README.md'],
  scripts: { build: 'tsup', typecheck: 'tsc -b' },
  dependencies: Object.fromEntries(deps.map((d) => [depName(d), '0.1.0'])),
  nx: { name: folder, tags: [`layer:${layer}`] },
};
const write = (file, text) => writeFileSync(join(root, file), text);
write('package.json', JSON.stringify(pkg, null, 2) + '\n');
write(
  'tsconfig.json',
  JSON.stringify(
    {
      extends: '../../tsconfig.base.json',
      compilerOptions: { rootDir: 'src', outDir: 'out-tsc', tsBuildInfoFile: 'out-tsc/tsconfig.tsbuildinfo' },
      include: ['src/**/*.ts'],
      references: deps.map((d) => ({ path: `../${d}` })),
    },
    null,
    2,
  ) + '\n',
);
const entries = ['index', ...subpaths].map((s) => `${s.includes('-') ? `'${s}'` : s}: 'src/${s}.ts'`).join(', ');
write('tsup.config.ts', `import { defineConfig } from 'tsup';\nimport { packageBuild } from '../../tsup.base';\n\nexport default defineConfig(packageBuild({ ${entries} }));\n`);
write('vitest.config.ts', "import { packageTests } from '../../vitest.base.ts';\n\nexport default packageTests();\n");
write('eslint.config.mjs', "export { default } from '../../eslint.config.mjs';\n");
console.log(`created packages/${folder} (${name}, layer:${layer})`);
