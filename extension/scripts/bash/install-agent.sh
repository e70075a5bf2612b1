#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# install-agent.sh: copy the speckit-pods OpenCode subagent into the project.
# `specify extension add` copies the extension to .specify/extensions/pods/ and renders
# its commands, but installs no OpenCode agents; this script does that one step.
#
# Usage: install-agent.sh [--check] [--remove]
#   --check    exit 0 if .opencode/agent/speckit-pods.md is installed and current, else 3
#   --remove   delete it (run before `specify extension remove pods` to leave no trace)
# Env read: none. Runs from the project root (the directory holding .specify/).
# OUTPUTS: stdout = the agent file's path; stderr = INFO:/ERROR: lines.
# Exit: 0 ok, 1 error, 2 usage, 3 (--check) missing or outdated.

set -o errexit -o nounset -o pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)/agents/speckit-pods.md"
TARGET=".opencode/agent/speckit-pods.md"

main() {
  local mode="install"
  case "${1:-}" in
    "") ;;
    --check) mode="check" ;;
    --remove) mode="remove" ;;
    -h | --help)
      sed -n '5,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2
      exit 2
      ;;
  esac
  [[ -d .specify ]] || { printf 'ERROR: run from the project root (no .specify/ in %s)\n' "$PWD" >&2; exit 1; }
  case "$mode" in
    check) cmp -s "$SOURCE" "$TARGET" || exit 3 ;;
    remove) rm -f -- "$TARGET"; rmdir .opencode/agent 2>/dev/null || true ;;
    install)
      mkdir -p "$(dirname "$TARGET")"
      cp -- "$SOURCE" "$TARGET"
      printf 'INFO: installed the speckit-pods subagent; restart OpenCode to load it\n' >&2
      ;;
  esac
  printf '%s\n' "$TARGET"
}

main "$@"
