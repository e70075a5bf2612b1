#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# install-agent.sh: copy the speckit-pods OpenCode subagent and its two tools into the
# project. `specify extension add` copies the extension to .specify/extensions/pods/ and
# renders its commands, but spec-kit 1.2.3 installs no OpenCode agents and runs nothing at
# install time; this script does that one step. OpenCode loads agents and tools only at
# start: restart it.
#
# Usage: install-agent.sh [--check] [--remove]
#   --check    exit 0 if .opencode/agent/speckit-pods.md and .opencode/tool/speckit_pods.js
#              are installed and current; else print the one line saying what to do (run
#              this script, restart OpenCode) on stderr and exit 3
#   --remove   delete them (run before `specify extension remove pods` to leave no trace)
# Env read: none. Runs from the project root (the directory holding .specify/).
# OUTPUTS: stdout = the installed files' paths, one a line; stderr = INFO:/ERROR: lines.
# Exit: 0 ok, 1 error, 2 usage, 3 (--check) missing or outdated.

set -o errexit -o nounset -o pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
EXT_DIR="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
# source in the extension, target in the project: the subagent, and the tools it runs
FILES=(
  "agents/speckit-pods.md" ".opencode/agent/speckit-pods.md"
  "tools/speckit_pods.js" ".opencode/tool/speckit_pods.js"
)

main() {
  local mode="install"
  case "${1:-}" in
    "") ;;
    --check) mode="check" ;;
    --remove) mode="remove" ;;
    -h | --help)
      sed -n '5,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      printf "ERROR: Unknown option '%s'. Use --help.\n" "$1" >&2
      exit 2
      ;;
  esac
  [[ -d .specify ]] || { printf 'ERROR: run from the project root (no .specify/ in %s)\n' "$PWD" >&2; exit 1; }
  local i source target present=0 stale=0 state self root
  for ((i = 0; i < ${#FILES[@]}; i += 2)); do
    source="$EXT_DIR/${FILES[i]}" target="${FILES[i + 1]}"
    case "$mode" in
      check)
        [[ ! -e "$target" ]] || present=1
        cmp -s "$source" "$target" || stale=1
        ;;
      remove) rm -f -- "$target"; rmdir "${target%/*}" 2>/dev/null || true ;;
      install) mkdir -p "${target%/*}"; cp -- "$source" "$target" ;;
    esac
  done
  case "$mode" in
    check)
      if ((stale)); then
        state="not installed"
        ((!present)) || state="outdated" # one file missing or different: an old install
        self="$SCRIPT_DIR/install-agent.sh"
        root="$(pwd -P)"
        [[ "$self" != "$root/"* ]] || self="${self#"$root/"}"
        # shellcheck disable=SC2016  # the backticks are Markdown for the chat, not a command
        printf 'ERROR: the speckit-pods subagent is %s: run `%s` in the project root, then restart OpenCode\n' \
          "$state" "$self" >&2
        exit 3
      fi
      ;;
    install) printf 'INFO: installed the speckit-pods subagent; restart OpenCode to load it\n' >&2 ;;
  esac
  for ((i = 1; i < ${#FILES[@]}; i += 2)); do printf '%s\n' "${FILES[i]}"; done
}

main "$@"
