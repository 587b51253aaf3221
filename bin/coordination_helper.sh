#!/usr/bin/env bash
# Drop-in replacement for the legacy agent_coordination/coordination_helper.sh: same subcommands,
# arguments, environment (AGENT_ID, AGENT_TEAM, AGENT_ROLE, COORDINATION_DIR, ...) and key output
# lines, talking to the ai-processor daemon (AI_PROCESSOR_URL, default http://127.0.0.1:4001).
# Unlike the legacy helper it exits non-zero when something is refused: 1 refused (e.g. CONFLICT),
# 2 usage error, 3 daemon unreachable. `coordination_helper.sh help` lists the commands.
set -euo pipefail

# Resolve symlinks (e.g. a link in ~/bin or an agent_coordination/ directory) to find the package.
self="${BASH_SOURCE[0]}"
while [ -L "$self" ]; do
  dir="$(cd -P "$(dirname "$self")" && pwd)"
  self="$(readlink "$self")"
  case "$self" in /*) ;; *) self="$dir/$self" ;; esac
done
root="$(cd -P "$(dirname "$self")/.." && pwd)"

# `--` keeps the legacy arguments (descriptions may start with a dash) away from the CLI's own options.
exec node "$root/dist/daemon/cli.js" legacy -- "$@"
