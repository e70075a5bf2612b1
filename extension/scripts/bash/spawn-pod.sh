#!/usr/bin/env -S bash -p
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# spawn-pod.sh (extension wrapper): run speckit-pods' spawn-pod.sh with the settings the
# developer pinned in .specify/extensions/pods/pods-config.yml:
#   SPECKIT_PODS_HOME set:   $SPECKIT_PODS_HOME/scripts/spawn-pod.sh
#   SPECKIT_PODS_HOME unset: `speckit-pods spawn` from PATH (pip install speckit-pods)
# Both take the same arguments and exit with the same codes. The config's image, repo,
# git_secret, llm_secret, namespace, context, allow_insecure_http, max_tokens, llm_price,
# max_cost, toolchain_image, setup_timeout and checkpoint_interval are passed as their
# flags; on the command line those flags are refused, and so are --branch, --context-dir
# and the positional form (TID BRANCH REPO_URL CONTEXT_DIR): the OpenCode subagent runs
# this script, and the text it reads must not choose where the code goes or which Secret
# the pod gets. `bash -p`: a BASH_ENV, SHELLOPTS or exported function is not taken up.
#
# Usage: spawn-pod.sh --task-id TID [--tasks FILE] [OPTIONS]   (see `spawn-pod.sh --help`)
# Env read: SPECKIT_PODS_HOME (optional), PATH, and what speckit-pods reads but those
#           pods-common.sh drops (GIT_*, PYTHON*, SPECKIT_PODS_NAMESPACE, ...).
# OUTPUTS: those of speckit-pods. Exit: its exit code; 2 with an ERROR: and a Hint: line for
# a refused argument; 26 for a malformed pods-config.yml; 1 with one ERROR: line when
# neither SPECKIT_PODS_HOME nor the speckit-pods command is usable.

set -o errexit -o nounset -o pipefail
PODS_ALSO_REFUSED="--branch --context-dir"
PODS_EXACT=""
PODS_FLAG_FORM=1
PODS_BOOLEANS="-h --help -v --verbose --replace --dry-run --allow-insecure-http --start-from-base"
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=extension/scripts/bash/pods-common.sh
source "$here/pods-common.sh"

pods_main spawn-pod.sh spawn "$PODS_CONFIG_KEYS" "$@"
