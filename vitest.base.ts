import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/** Tests import workspace packages from source through the private export condition. */
export function packageTests(testTimeout = 20_000) {
  const conditions = ['@iommu-lab/source', ...defaultServerConditions];
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      include: ['src/**/*.test.ts'],
      environment: 'node',
      testTimeout,
      pool: 'forks',
    },
  });
}
