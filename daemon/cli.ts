#!/bin/sh
//usr/bin/env true; case " $NODE_OPTIONS" in *--v8-pool-size*) exec node "$0" "$@";; esac; exec node --v8-pool-size=1 "$0" "$@"
// ^ A command for sh, a comment for node: the bin runs node with one V8 helper thread
//   (shared/node-flags.ts) unless NODE_OPTIONS sets the pool size. `node <this file>` runs as is.
// ai-processor: the daemon (`start`, daemon/start.ts) and the client commands agents and scripts use
// (cli/). The one module of daemon/ that loads client programs: it only dispatches.
// Exit codes: 0 done, 1 refused by the daemon (conflict, not holder, unknown id), 2 usage error,
// 3 daemon unreachable or failing.
//
// Fast path: bin/coordination_helper.sh runs `ai-processor legacy -- <args>` once per agent call,
// so that form skips commander and the other commands' modules (about 25 ms of a ~100 ms call);
// `legacy` then receives exactly what commander would have given it (everything after the `--`).
const argv = process.argv;
if (argv[2] === 'legacy' && argv[3] === '--') {
  const { runLegacyProcess } = await import('../cli/legacy-helper.js');
  try {
    await runLegacyProcess(argv.slice(4));
  } catch (err) {
    process.stderr.write(`ai-processor: ${(err as Error).message}\n`);
    process.exit(3);
  }
} else if (argv[2] === 'start') {
  // Before the daemon's modules load: they would grow the young generation past the heap policy's cap.
  const [{ holdYoungGeneration }, { heapPolicyInputs }] = await Promise.all([import('./observability/heap-policy.js'), import('./config.js')]);
  holdYoungGeneration(heapPolicyInputs());
  // `start` on a root of its own: the daemon's process loads no client command (they stay out of its heap).
  const [{ programRoot, runProgram }, { registerStartCommand }] = await Promise.all([import('../cli/program-root.js'), import('./start.js')]);
  const program = programRoot();
  registerStartCommand(program);
  await runProgram(program, argv);
} else {
  const [{ main }, { registerStartCommand }] = await Promise.all([import('../cli/program.js'), import('./start.js')]);
  await main(argv, [registerStartCommand]);
}
