#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# run-async.sh: run every ready [ASYNC] task of the feature's tasks.md as an agent pod,
# in dependency order, following all of them in one stream.
#
# Usage: run-async.sh [run|plan|status|cancel|integrate] [OPTIONS]
#        run-async.sh session TID [--json|--log]   (`python3 -m runtime session`)
#
# OPTIONS: see --help (parsing and validation are done by `python3 -m runtime dispatch`).
#
# Env read: SPECKIT_PODS_PYTHON (interpreter, default python3), SPECKIT_PODS_NAMESPACE,
#           SPECKIT_PODS_INTEGRATE (wave|end|never), KUBECONFIG, NO_COLOR,
#           SPECIFY_FEATURE_DIRECTORY / SPECIFY_FEATURE (feature).
#
# OUTPUTS: run: stdout = "[TID] line" log lines, one "[TID] RESULT ..." line per pod and a
#          final table; stderr = status lines (or the live table on a terminal). With
#          --json: stdout = one {"feature", "tasks_file", "exit_code", "interrupted",
#          "tasks": [...], "integration", "stale", "total"}, every line on stderr.
#          plan: one line per task ("wave N  TID  title  (after ...)", "held ...", "done ...")
#          or, with --json, {"feature", "tasks_file", "waves", "tasks", "held", "done", "warnings"}.
#          status: a table, or with --json {"feature", "tasks_file", "cluster", "tasks": [...]}.
#          session: a finished task's stored opencode session as markdown (--json: the export).
# Exit codes: see --help.

set -o errexit -o nounset -o pipefail

# resolve symlinks (a link in ~/bin) so lib/ and the runtime are found next to the real file
SCRIPT_PATH="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$SCRIPT_PATH")/lib/common.sh"

main() {
  if [[ "${1:-}" == session ]]; then
    shift
    SPECKIT_PODS_PROG_SUFFIX=" session" exec_runtime session "$@"
  fi
  exec_runtime dispatch "$@"
}

main "$@"
