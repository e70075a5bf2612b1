#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# run-async.sh: run every ready [ASYNC] task of the feature's tasks.md as an agent pod,
# in dependency order, following all of them in one stream.
#
# Usage: run-async.sh [run|plan|status|cancel] [OPTIONS]
#
# OPTIONS: see --help (parsing and validation are done by `python3 -m runtime dispatch`).
#
# Env read: SPECKIT_PODS_PYTHON (interpreter, default python3), SPECKIT_PODS_NAMESPACE,
#           KUBECONFIG, NO_COLOR, SPECIFY_FEATURE_DIRECTORY / SPECIFY_FEATURE (feature).
#
# OUTPUTS: run: stdout = "[TID] line" log lines, one "[TID] RESULT ..." line per pod and a
#          final table; stderr = status lines (or the live table on a terminal).
#          plan: one line per task ("wave N  TID  title  (after ...)", "held ...", "done ...")
#          or, with --json, {"feature", "tasks_file", "waves", "tasks", "held", "done", "warnings"}.
#          status: a table, or with --json {"feature", "tasks_file", "cluster", "tasks": [...]}.
# Exit: 0 all succeeded, 1 a task failed/blocked, 28 some wait for unfinished tasks,
#       2 usage, 10-15 tasks.md (15 = dependency cycle), 20-26 cluster, 130 detached (Ctrl-C).

set -o errexit -o nounset -o pipefail

# resolve symlinks (a link in ~/bin) so lib/ and the runtime are found next to the real file
SCRIPT_PATH="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$SCRIPT_PATH")/lib/common.sh"

usage() {
  cat <<'USAGE'
Usage: run-async.sh [run|plan|status|cancel] [OPTIONS]

Run the pending [ASYNC] tasks of the current feature's tasks.md as agent pods. A task
starts as soon as the tasks it depends on succeeded (written "depends on T010", earlier
phases, non-[P] order), at most --max-parallel at a time. Each success is marked [X].
A failure blocks only the tasks that depend on it. Tasks that wait for an unfinished
[SYNC] task are held (exit 28): do that task, push, and run again.

Actions:
  run                    (default) spawn, follow, mark done; re-attaches to running pods
  plan                   print the waves and held tasks; touches nothing (= --dry-run)
  status                 every [ASYNC] task: tasks.md state, plan, newest pod and result
  cancel                 delete the feature's running pods (= --cancel); they push WIP

What to run:
  --tasks PATH           tasks.md or feature dir (default: found like spec-kit does)
  --only T012,T013       only these tasks
  --max-parallel N       pods at once (default 3)
  --written-deps-only    ignore phase and [P] ordering, keep written dependencies
  --json                 plan/status: print one JSON object
  --verify-remote        check each pushed branch with git ls-remote
  --no-live              plain lines even on a terminal
  --no-color             no colours (also NO_COLOR)

Each pod (same defaults as spawn-pod.sh):
  --repo URL  --base BRANCH  --model P/M  --requested-by "N <E>"  --namespace NS
  --context CTX  --image IMAGE  --timeout DUR (2h)  --stall-timeout DUR (10m)
  --cleanup always|on-success|never  --keep-for DUR (24h)  --git-secret NAME
  --llm-secret NAME  --cpu Q  --memory Q
  -h, --help             this help

Exit codes: 0 all succeeded (plan/status/cancel: ok), 1 a task failed or was blocked by
a failure, 28 some tasks wait for unfinished tasks, 2 usage, 10-13 tasks.md, 15 dependency
cycle, 20-26 cluster errors, 130 detached by Ctrl-C (the pods keep running).

EXAMPLES:
  # what would run, in which order
  run-async.sh plan

  # run everything ready, 2 pods at a time; Ctrl-C detaches, the same command re-attaches
  run-async.sh --max-parallel 2 --model anthropic/claude-sonnet-4-5

  # just two tasks, from an explicit tasks.md
  run-async.sh --only T012,T013 --tasks specs/001-photo-albums/tasks.md

  # where is everything; stop everything
  run-async.sh status
  run-async.sh cancel
USAGE
}

main() {
  help_or_exec_runtime dispatch "$@"
}

main "$@"
