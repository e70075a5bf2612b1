#!/usr/bin/env -S bash -p
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# tail-logs.sh (extension wrapper): run speckit-pods' tail-logs.sh in the namespace and
# kubeconfig context the developer pinned in .specify/extensions/pods/pods-config.yml:
#   SPECKIT_PODS_HOME set:   $SPECKIT_PODS_HOME/scripts/tail-logs.sh
#   SPECKIT_PODS_HOME unset: `speckit-pods logs` from PATH (pip install speckit-pods)
# Both take the same arguments and exit with the same codes. --namespace (-n), --context
# and the other pinned flags are refused on the command line (see pods-common.sh).
#
# Usage: tail-logs.sh POD | --task TID | --all [OPTIONS]     (see `tail-logs.sh --help`)
# Env read: SPECKIT_PODS_HOME (optional), PATH, and what speckit-pods reads but those
#           pods-common.sh drops (GIT_*, PYTHON*, SPECKIT_PODS_NAMESPACE, ...).
# OUTPUTS: those of speckit-pods. Exit: its exit code; 2 with an ERROR: and a Hint: line for
# a refused argument; 26 for a malformed pods-config.yml; 1 with one ERROR: line when
# neither SPECKIT_PODS_HOME nor the speckit-pods command is usable.

set -o errexit -o nounset -o pipefail
PODS_ALSO_REFUSED=""
PODS_EXACT="--all --task" # logs' own options, not abbreviations of --allow-insecure-http, --tasks
PODS_FLAG_FORM=0
PODS_BOOLEANS=""
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=extension/scripts/bash/pods-common.sh
source "$here/pods-common.sh"

pods_main tail-logs.sh logs "namespace context" "$@"
