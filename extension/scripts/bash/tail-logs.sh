#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# tail-logs.sh (extension wrapper): run speckit-pods' tail-logs.sh with the same arguments:
#   SPECKIT_PODS_HOME set:   $SPECKIT_PODS_HOME/scripts/tail-logs.sh
#   SPECKIT_PODS_HOME unset: `speckit-pods logs` from PATH (pip install speckit-pods)
# Both take the same arguments and exit with the same codes.
#
# Usage: tail-logs.sh [ARGS...]     (see `tail-logs.sh --help`)
# Env read: SPECKIT_PODS_HOME (optional), PATH, and everything speckit-pods reads.
# OUTPUTS: those of speckit-pods. Exit: its exit code; 1 with one ERROR: line on stderr when
# neither SPECKIT_PODS_HOME nor the speckit-pods command is usable.

set -o errexit -o nounset -o pipefail
# shellcheck source=extension/scripts/bash/pods-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods-common.sh"

pods_exec tail-logs.sh logs "$@"
