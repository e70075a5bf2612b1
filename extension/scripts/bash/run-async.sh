#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# run-async.sh (extension wrapper): run speckit-pods' scripts/run-async.sh from
# $SPECKIT_PODS_HOME with the same arguments (plan, status, run, cancel ...).
#
# Usage: run-async.sh [ARGS...]     (see `run-async.sh --help`)
# Env read: SPECKIT_PODS_HOME (required), plus everything the real script reads.
# OUTPUTS: those of the real script. Exit: its exit code; 1 when SPECKIT_PODS_HOME is unusable.

set -o errexit -o nounset -o pipefail
# shellcheck source=extension/scripts/bash/pods-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods-common.sh"

target="$(pods_script run-async.sh)"
exec "$target" "$@"
