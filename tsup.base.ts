import type { Options } from 'tsup';

/** Shared tsup settings: ESM for Node 20, declarations built against the dist of dependencies. */
export function packageBuild(entry: Record<string, string> = { index: 'src/index.ts' }): Options {
  return {
    entry,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    clean: true,
    dts: {
      compilerOptions: {
        ignoreDeprecations: '6.0',
        types: ['node'],
        customConditions: [],
        composite: false,
      },
    },
  };
}
