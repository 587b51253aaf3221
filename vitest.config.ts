import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Every temp dir the tests make (data dirs, scripts, tmux sockets, the daemons' own) goes under one
// folder per run, removed when the run ends (test/helpers/run-tmp.ts; AIP_KEEP_TEST_TMP=1 keeps it).
const runTmp = (process.env.AIP_TEST_RUN_TMP ??= mkdtempSync(join(tmpdir(), 'aip-test-run-')));

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn real daemons and terminals; two cores, so keep parallelism modest.
    maxWorkers: 2,
    fileParallelism: true,
    env: { TMPDIR: runTmp },
    globalSetup: ['test/helpers/run-tmp.ts'],
  },
});
