#!/usr/bin/env -S bash -p
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# run-async.sh (extension wrapper): run speckit-pods' run-async.sh (plan, status, run,
# cancel ...) with the settings the developer pinned in .specify/extensions/pods/pods-config.yml:
#   SPECKIT_PODS_HOME set:   $SPECKIT_PODS_HOME/scripts/run-async.sh
#   SPECKIT_PODS_HOME unset: `speckit-pods dispatch` from PATH (pip install speckit-pods)
# Both take the same arguments and exit with the same codes. The config's image, repo,
# git_secret, llm_secret, namespace, context, allow_insecure_http, max_tokens, llm_price,
# max_cost, toolchain_image, setup_timeout and checkpoint_interval are passed as their
# flags, which are refused on the command line (see pods-common.sh).
#
# Usage: run-async.sh [ACTION] [OPTIONS]     (see `run-async.sh --help`)
# Env read: SPECKIT_PODS_HOME (optional), PATH, and what speckit-pods reads but those
#           pods-common.sh drops (GIT_*, PYTHON*, SPECKIT_PODS_NAMESPACE, ...).
# OUTPUTS: those of speckit-pods. Exit: its exit code; 2 with an ERROR: and a Hint: line for
# a refused argument; 26 for a malformed pods-config.yml; 1 with one ERROR: line when
# neither SPECKIT_PODS_HOME nor the speckit-pods command is usable.

set -o errexit -o nounset -o pipefail
PODS_ALSO_REFUSED=""
PODS_EXACT=""
PODS_FLAG_FORM=0
PODS_BOOLEANS=""
case "${BASH_SOURCE[0]}" in */*) here="${BASH_SOURCE[0]%/*}" ;; *) here=. ;; esac
# shellcheck source=extension/scripts/bash/pods-common.sh
source "$here/pods-common.sh"

pods_main run-async.sh dispatch "$PODS_CONFIG_KEYS" "$@"
