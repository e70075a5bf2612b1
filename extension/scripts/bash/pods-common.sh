#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Locate the speckit-pods installation for the extension's wrappers. Source it.
#
# Env read: SPECKIT_PODS_HOME   the speckit-pods checkout or installation: the directory
#                               holding scripts/spawn-pod.sh (required).
# Defines:  PODS_HOME, pods_script NAME (prints the path of scripts/NAME, or dies).

pods_die() {
  printf 'ERROR: %s\n' "$1" >&2
  [[ -z "${2:-}" ]] || printf 'Hint: %s\n' "$2" >&2
  exit 1
}

pods_home() {
  local home="${SPECKIT_PODS_HOME:-}"
  [[ -n "$home" ]] || pods_die "SPECKIT_PODS_HOME is not set" \
    "export SPECKIT_PODS_HOME=/path/to/speckit-pods (the checkout holding scripts/spawn-pod.sh)"
  [[ -f "$home/scripts/spawn-pod.sh" ]] || pods_die \
    "SPECKIT_PODS_HOME=$home does not hold scripts/spawn-pod.sh" \
    "point SPECKIT_PODS_HOME at the speckit-pods checkout or installation"
  (cd "$home" && pwd -P)
}

# pods_script NAME: print the absolute path of scripts/NAME of the installation.
pods_script() {
  local home
  home="$(pods_home)" || exit 1
  [[ -x "$home/scripts/$1" ]] || pods_die "not executable: $home/scripts/$1" \
    "reinstall speckit-pods, or chmod +x $home/scripts/$1"
  printf '%s/scripts/%s\n' "$home" "$1"
}
