#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Helpers shared by the user-facing scripts. Source it, do not run it; a script that may be
# called through a symlink resolves its own path first:
#   SCRIPT_PATH="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
#   source "$(dirname "$SCRIPT_PATH")/lib/common.sh"
#
# Defines:
#   REPO_ROOT            the checkout holding scripts/ and runtime/ (symlinks resolved)
#   log_info/log_warn/log_error MSG...   one prefixed line on stderr
#   die MSG [CODE]       log_error MSG, then exit CODE (default 1)
#   require_cmd CMD [HINT]  exit 1 with HINT when CMD is not on PATH
#   python_bin           print the Python interpreter to use ($SPECKIT_PODS_PYTHON or python3)
#   exec_runtime CMD ARGS...  exec `python -m runtime CMD ARGS...` from this checkout; the
#                        runtime parses everything, -h/--help included (its help names the
#                        script: SPECKIT_PODS_PROG), and reports a missing package itself
#
# Env read: SPECKIT_PODS_PYTHON (interpreter, default python3), PYTHONPATH (kept, REPO_ROOT prepended),
#           SPECKIT_PODS_PROG_SUFFIX (appended to the name: a script's own sub-command, " session").
# Env set:  SPECKIT_PODS_PROG (the script's name as invoked, for the runtime's --help).

if [[ -n "${_SPECKIT_PODS_COMMON_SH:-}" ]]; then
  return 0
fi
_SPECKIT_PODS_COMMON_SH=1

_common_sh="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$_common_sh")/../.." && pwd -P)"
export REPO_ROOT

log_info() { printf 'INFO: %s\n' "$*" >&2; }
log_warn() { printf 'WARNING: %s\n' "$*" >&2; }
log_error() { printf 'ERROR: %s\n' "$*" >&2; }

die() {
  log_error "$1"
  exit "${2:-1}"
}

require_cmd() {
  local cmd="$1" hint="${2:-}"
  if ! command -v "$cmd" >/dev/null 2>&1; then
    log_error "required command not found: $cmd"
    [[ -z "$hint" ]] || printf 'Hint: %s\n' "$hint" >&2
    exit 1
  fi
}

python_bin() {
  printf '%s\n' "${SPECKIT_PODS_PYTHON:-python3}"
}

# exec_runtime CMD ARGS...: replace this shell with `python -m runtime CMD ARGS...`.
exec_runtime() {
  local python
  python="$(python_bin)"
  require_cmd "$python" "install Python >= 3.11 or set SPECKIT_PODS_PYTHON"
  export PYTHONPATH="${REPO_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
  SPECKIT_PODS_PROG="${0##*/}${SPECKIT_PODS_PROG_SUFFIX:-}" exec "$python" -m runtime "$@"
}
