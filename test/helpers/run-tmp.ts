// Global teardown: removes the run's temp folder (made in vitest.config.ts), unless asked to keep it.
import { rmSync } from 'node:fs';

export default function setup(): () => void {
  return () => {
    const dir = process.env.AIP_TEST_RUN_TMP;
    if (!dir || process.env.AIP_KEEP_TEST_TMP === '1') return;
    rmSync(dir, { recursive: true, force: true });
  };
}
