import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/** Layers from DESIGN.md: each tag lists what it may import. */
const layers = [
  { sourceTag: 'layer:platform', onlyDependOnLibsWithTags: ['layer:platform'] },
  { sourceTag: 'layer:core', onlyDependOnLibsWithTags: ['layer:core', 'layer:platform'] },
  { sourceTag: 'layer:hw', onlyDependOnLibsWithTags: ['layer:core', 'layer:platform'] },
  { sourceTag: 'layer:kernel', onlyDependOnLibsWithTags: ['layer:core', 'layer:platform'] },
  { sourceTag: 'layer:vmm', onlyDependOnLibsWithTags: ['layer:kernel', 'layer:core', 'layer:platform', 'layer:hw'] },
  { sourceTag: 'layer:test', onlyDependOnLibsWithTags: ['*'] },
  { sourceTag: 'layer:app', onlyDependOnLibsWithTags: ['*'] },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/out-tsc/**', '**/node_modules/**', '**/coverage/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    files: ['**/src/**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { enforceBuildableLibDependency: false, allow: [], depConstraints: layers },
      ],
    },
  },
  {
    // A README example imports its own package by name, as a user would; the layer rules still hold.
    files: ['**/readme.example.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { enforceBuildableLibDependency: false, allow: [], depConstraints: layers, allowCircularSelfDependency: true },
      ],
    },
  },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.mjs'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
);

/** For packages/viommu: a vendor's pure format codecs only, never its driver or hardware model. */
export const vmmFormatOnly = {
  files: ['**/*.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: '^@iommu-lab/hw-[a-z0-9-]+(?!/format$)(/.*)?$',
            message: 'viommu may import only the format codecs of a hw package (@iommu-lab/hw-*/format).',
          },
        ],
      },
    ],
  },
};
