#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# spawn-pod.sh: start one Kubernetes pod running an OpenCode agent on one spec-kit task.
#
# Usage: spawn-pod.sh --task-id TID [--branch B] [--repo URL] [--context-dir DIR] [OPTIONS]
#        spawn-pod.sh TID [BRANCH [REPO_URL [CONTEXT_DIR]]] [OPTIONS]
#
# OPTIONS: see --help (all parsing and validation is done by `python3 -m runtime spawn`).
#
# Env read: SPECKIT_PODS_PYTHON (interpreter, default python3), SPECKIT_PODS_NAMESPACE,
#           KUBECONFIG, SPECIFY_FEATURE_DIRECTORY / SPECIFY_FEATURE (feature discovery).
#
# OUTPUTS: stdout = the pod name (one line), or with --dry-run the ConfigMap and Pod as
#          multi-document YAML (in the order spawn creates them). stderr = INFO:/WARNING:/ERROR: lines.
# Exit codes: see --help.

set -o errexit -o nounset -o pipefail

# resolve symlinks (a link in ~/bin) so lib/ and the runtime are found next to the real file
SCRIPT_PATH="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "$SCRIPT_PATH")/lib/common.sh"

main() {
  exec_runtime spawn "$@"
}

main "$@"
