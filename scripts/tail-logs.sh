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
#          --task TID with no pod left: the log and RESULT line its run stored in git
#          (refs/speckit-pods/session/<feature>/<TID>, fetched with your git), said on stderr.
# Exit codes: see --help.

set -o errexit -o nounset -o pipefail

# resolve symlinks (a link in ~/bin) so lib/ and the runtime are found next to the real file
SCRIPT_PATH="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$SCRIPT_PATH")/lib/common.sh"

main() {
  exec_runtime logs "$@"
}

main "$@"
