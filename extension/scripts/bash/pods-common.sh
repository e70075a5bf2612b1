#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Find speckit-pods for the extension's wrappers and run it. Source it, do not run it.
#
# Env read: SPECKIT_PODS_HOME   a speckit-pods checkout (the directory holding
#                               scripts/spawn-pod.sh). Set: its scripts are run.
#                               Unset or empty: the `speckit-pods` command on PATH
#                               (pip install speckit-pods) is run instead.
# Defines:  pods_die MSG        print `ERROR: MSG` (one line) on stderr, exit 1
#           pods_exec SCRIPT SUBCOMMAND ARGS...
#                               exec $SPECKIT_PODS_HOME/scripts/SCRIPT ARGS..., or
#                               `speckit-pods SUBCOMMAND ARGS...` (same arguments, same
#                               exit codes); exit 1 with one ERROR: line when neither
#                               is there.

pods_die() {
  printf 'ERROR: %s\n' "$1" >&2
  exit 1
}

pods_exec() {
  local script="$1" subcommand="$2" home="${SPECKIT_PODS_HOME:-}"
  shift 2
  local use_path="unset it to use the speckit-pods command from PATH"
  if [[ -n "$home" ]]; then
    [[ -f "$home/scripts/spawn-pod.sh" ]] || pods_die "SPECKIT_PODS_HOME=$home does not hold\
 scripts/spawn-pod.sh: point it at the speckit-pods checkout, or $use_path"
    [[ -x "$home/scripts/$script" ]] || pods_die "not executable: $home/scripts/$script\
 (chmod +x it, or $use_path)"
    exec "$home/scripts/$script" "$@"
  fi
  command -v speckit-pods >/dev/null 2>&1 || pods_die "speckit-pods not found: pip install\
 speckit-pods (puts the speckit-pods command on PATH), or export\
 SPECKIT_PODS_HOME=/path/to/speckit-pods (the checkout holding scripts/spawn-pod.sh),\
 in the environment OpenCode starts from"
  exec speckit-pods "$subcommand" "$@"
}
