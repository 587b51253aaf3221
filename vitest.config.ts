import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn real daemons and terminals; two cores, so keep parallelism modest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
