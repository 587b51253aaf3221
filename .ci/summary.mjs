// Prints "N passed, N failed" (then "N skipped") from vitest's JSON report. A test file that failed to load
// (an import error, a throw at collection) has no failed test, so vitest's numFailedTests misses it:
// it counts here as one failure. Exits 1 when anything failed or the report is missing.
import { readFileSync } from 'node:fs';

export function summarize(report) {
  const files = report.testResults ?? [];
  // A failed file none of whose tests failed: it did not load, or a hook outside the tests threw.
  const fileFailures = files.filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  return { passed: report.numPassedTests ?? 0, failed: (report.numFailedTests ?? 0) + fileFailures, skipped };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let s;
  try {
    s = summarize(JSON.parse(readFileSync(process.argv[2] ?? 'test-results.json', 'utf8')));
  } catch (e) {
    console.log(`0 passed, 1 failed (no test report: ${e instanceof Error ? e.message : String(e)})`);
    process.exit(1);
  }
  console.log(`${s.passed} passed, ${s.failed} failed`);
  console.log(`${s.skipped} skipped`);
  process.exit(s.failed > 0 ? 1 : 0);
}
