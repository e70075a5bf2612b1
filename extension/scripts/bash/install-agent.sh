#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# install-agent.sh: copy the speckit-pods OpenCode subagent into the project.
# `specify extension add` copies the extension to .specify/extensions/pods/ and renders
# its commands, but spec-kit 1.2.3 installs no OpenCode agents and runs nothing at install
# time; this script does that one step. OpenCode loads agents only at start: restart it.
#
# Usage: install-agent.sh [--check] [--remove]
#   --check    exit 0 if .opencode/agent/speckit-pods.md is installed and current; else
#              print the one line saying what to do (run this script, restart OpenCode)
#              on stderr and exit 3
#   --remove   delete it (run before `specify extension remove pods` to leave no trace)
# Env read: none. Runs from the project root (the directory holding .specify/).
# OUTPUTS: stdout = the agent file's path; stderr = INFO:/ERROR: lines.
# Exit: 0 ok, 1 error, 2 usage, 3 (--check) missing or outdated.

set -o errexit -o nounset -o pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
SOURCE="$(cd "$SCRIPT_DIR/../.." && pwd -P)/agents/speckit-pods.md"
TARGET=".opencode/agent/speckit-pods.md"

main() {
  local mode="install"
  case "${1:-}" in
    "") ;;
    --check) mode="check" ;;
    --remove) mode="remove" ;;
    -h | --help)
      sed -n '5,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2
      exit 2
      ;;
  esac
  [[ -d .specify ]] || { printf 'ERROR: run from the project root (no .specify/ in %s)\n' "$PWD" >&2; exit 1; }
  case "$mode" in
    check)
      if ! cmp -s "$SOURCE" "$TARGET"; then
        local state="not installed" self="$SCRIPT_DIR/install-agent.sh" root
        [[ ! -e "$TARGET" ]] || state="outdated"
        root="$(pwd -P)"
        [[ "$self" != "$root/"* ]] || self="${self#"$root/"}"
        # shellcheck disable=SC2016  # the backticks are Markdown for the chat, not a command
        printf 'ERROR: the speckit-pods subagent is %s: run `%s` in the project root, then restart OpenCode\n' \
          "$state" "$self" >&2
        exit 3
      fi
      ;;
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
