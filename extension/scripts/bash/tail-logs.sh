#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# tail-logs.sh (extension wrapper): run speckit-pods' scripts/tail-logs.sh from
# $SPECKIT_PODS_HOME with the same arguments.
#
# Usage: tail-logs.sh [ARGS...]     (see `tail-logs.sh --help`)
# Env read: SPECKIT_PODS_HOME (required), plus everything the real script reads.
# OUTPUTS: those of the real script. Exit: its exit code; 1 when SPECKIT_PODS_HOME is unusable.

set -o errexit -o nounset -o pipefail
# shellcheck source=extension/scripts/bash/pods-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods-common.sh"

target="$(pods_script tail-logs.sh)"
exec "$target" "$@"
