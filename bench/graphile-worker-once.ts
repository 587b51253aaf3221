// One graphile-worker process, as its perfTest runs one (`graphile-worker --once` with
// perfTest/graphile.config.js) in the setup of its published "Without batching" figures: no local
// queue, each completion its own round trip (graphile-worker's defaults). The queue-comparison
// bench runs it as a child process:
//   node graphile-worker-once.js migrate DATABASE_URL                         install graphile-worker's schema
//   node graphile-worker-once.js once DATABASE_URL TASK CONCURRENCY POOL      work the queue until it is empty, then exit;
//                                                                            TASK does nothing (the figure is the queue's own cost)
// `once` ends by writing {jobs, first_ms, end_ms} to file descriptor 3 (stdout is graphile-worker's
// log): how many jobs it ran, when the first started and when the last was completed and the
// process was done (epoch ms).
import { writeSync } from 'node:fs';
import gw from 'graphile-worker';

/** The bench's pipe for the result. */
const RESULT_FD = 3;
const now = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const [mode, connectionString, task, concurrency, pool] = process.argv.slice(2);
  if (!connectionString || !(mode === 'migrate' || (mode === 'once' && task && Number(concurrency) > 0 && Number(pool) > 0)))
    throw new Error('usage: graphile-worker-once.js migrate DATABASE_URL | once DATABASE_URL TASK CONCURRENCY POOL');
  const preset = {
    worker: {
      connectionString,
      concurrentJobs: Number(concurrency || 1),
      maxPoolSize: Number(pool || 1),
      gracefulShutdownAbortTimeout: 2500,
      localQueue: { size: -1 },
      completeJobBatchDelay: -1,
      failJobBatchDelay: -1,
    },
  };
  if (mode === 'migrate') return gw.runMigrations({ preset });
  let jobs = 0;
  let first = NaN;
  await gw.runOnce({
    preset,
    taskList: {
      [task]: () => {
        if (jobs++ === 0) first = now();
      },
    },
  });
  writeSync(RESULT_FD, JSON.stringify({ jobs, first_ms: first, end_ms: now() }));
}

main().catch((err) => {
  process.stderr.write(`graphile-worker-once: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
