#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# tail-logs.sh: follow agent pods to their end: stream logs, report the result, clean up.
#
# Usage: tail-logs.sh POD | --task TID | --all [OPTIONS]
#
# OPTIONS: see --help (parsing and validation are done by `python3 -m runtime logs`).
#
# Env read: SPECKIT_PODS_PYTHON (interpreter, default python3), SPECKIT_PODS_NAMESPACE,
#           KUBECONFIG, NO_COLOR.
#
# OUTPUTS: stdout = log lines "[TID] line" and one line per pod:
#            [TID] RESULT status=S exit=N branch=B commit=C files=N duration=Ns pod=P reason="..."
#          stderr = INFO:/WARNING:/ERROR: lines (waiting reasons, cleanup, errors).
# Exit: the pod's status code (0 succeeded, 1 failed, 3 no-changes, 4 stalled, 5 killed,
#       6 git-auth-failed, 7 repo-not-found, 8 push-rejected, 9 unknown, 124 timeout);
#       several pods: 0 if all succeeded, else the first failure in task order;
#       27 not ended yet (--no-follow, --timeout); 2 usage; 20-26 cluster errors.

set -o errexit -o nounset -o pipefail

# resolve symlinks (a link in ~/bin) so lib/ and the runtime are found next to the real file
SCRIPT_PATH="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$SCRIPT_PATH")/lib/common.sh"

usage() {
  cat <<'USAGE'
Usage: tail-logs.sh POD | --task TID | --all [OPTIONS]

Follow agent pods: wait while Pending (saying why it is stuck), stream the log prefixed
with the task ID, print one RESULT line per pod, then apply the pod's cleanup policy.

Which pods:
  POD                    a pod name (as printed by spawn-pod.sh)
  --task TID             the newest pod of task TID
  --all                  every agent pod (of --feature); lines interleave
  --feature NAME         only pods of this feature, e.g. 001-photo-albums
  --namespace NS         default speckit-pods (or $SPECKIT_PODS_NAMESPACE)
  --context CTX          kubeconfig context

What to do:
  --no-follow            print the log so far; the result if the pod ended, else exit 27
  --timeout DUR          stop waiting after DUR (e.g. 90s, 30m, 2h); exit 27
  --verify-remote        check with git ls-remote (your git credentials) that the branch
                         holds the reported commit; else status push-rejected (exit 8)
  --mark-done            on success mark the task [X] in tasks.md
  --tasks FILE           tasks.md for --mark-done / .async_state (default: pod annotation)
  --async-state          create $FEATURE_DIR/.async_state/ markers even if the dir is missing
  --no-color             no colours (also when NO_COLOR is set or stdout is not a terminal)
  -h, --help             this help

Exit codes: 0 succeeded, 1 failed, 3 no-changes, 4 stalled, 5 killed, 6 git-auth-failed,
7 repo-not-found, 8 push-rejected, 9 unknown, 124 timeout, 27 not ended yet, 2 usage,
20-26 cluster errors. Several pods: 0 if all succeeded, else the first failure by task.

EXAMPLES:
  # follow the pod spawn-pod.sh just started
  tail-logs.sh "$(spawn-pod.sh T012)"

  # wait for a task, verify the push and tick it off in tasks.md
  tail-logs.sh --task T012 --verify-remote --mark-done

  # everything running for a feature, at most one hour
  tail-logs.sh --all --feature 001-photo-albums --timeout 1h

  # poll from a script: 27 means still running
  tail-logs.sh --task T012 --no-follow --no-color >/dev/null || rc=$?
USAGE
}

main() {
  help_or_exec_runtime logs "$@"
}

main "$@"
