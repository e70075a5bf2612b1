#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: speckit-pods contributors
#
# Shared by the extension's wrappers: find speckit-pods, pin what the developer configured,
# run it. Source it, do not run it.
#
# The wrappers are what the speckit-pods OpenCode subagent runs, and it is steered by the
# text it reads. So the settings that decide where code runs and which credentials it gets
# come from the developer's config file, never from the command line or the environment:
#
#   PODS_CONFIG (.specify/extensions/pods/pods-config.yml, next to scripts/): flat
#   `key: value` lines (a subset of YAML, read line by line: nothing is sourced or
#   evaluated). Keys: image, repo, git_secret, llm_secret, namespace, context,
#   allow_insecure_http (true|false), max_tokens (each pod's token budget), llm_price
#   (IN/OUT, the price the cost is counted at), max_cost (each pod's cost budget),
#   toolchain_image (the repository's image for the agent container), setup_timeout
#   (the limit of its .speckit-pods/setup.sh) and checkpoint_interval (seconds between the
#   pod's checkpoints, 0 = none). An empty value, or no file: speckit-pods' default.
#
# Env read: SPECKIT_PODS_HOME   a speckit-pods checkout (the directory holding
#                               scripts/spawn-pod.sh). Set: its scripts are run.
#                               Unset or empty: the `speckit-pods` command on PATH
#                               (pip install speckit-pods) is run instead.
# Env dropped before speckit-pods runs (OpenCode checks no `export`, so the subagent can set
# any of them): those that run code or redirect git, Python or bash (GIT_*, PYTHON*,
# BASH_ENV, ENV, PS4, CDPATH, GLOBIGNORE, BROWSER, LD_*, DYLD_*, PERL5*, RUBYOPT, NODE_OPTIONS,
# SSH_ASKPASS, EDITOR, VISUAL, PAGER), exported functions, those speckit-pods reads
# instead of a pinned flag (SPECKIT_PODS_NAMESPACE, SPECKIT_PODS_ALLOW_INSECURE_HTTP,
# SPECKIT_PODS_MAX_TOKENS, SPECKIT_PODS_LLM_PRICE, SPECKIT_PODS_MAX_COST, SPECKIT_PODS_IMAGE:
# the image runs the pod's trusted side with the git token; SPECKIT_PODS_TOOLCHAIN_IMAGE: the
# agent's, with the LLM proxy in reach; SPECKIT_PODS_CHECKPOINT_INTERVAL: 0 would lose a hard
# fault's work), and those that would send the developer's git credentials or run a command
# (SPECKIT_PODS_GIT_*, SPECKIT_PODS_PR, SPECKIT_PODS_TEST_COMMAND).
# Env checked: SPECIFY_INIT_DIR and SPECIFY_FEATURE_DIRECTORY stay inside the project.
# Defines:  pods_main SCRIPT SUBCOMMAND KEYS ARGS...
#             refuse the pinned flags in ARGS (exit 2), read PODS_CONFIG (exit 26 when
#             malformed), then exec $SPECKIT_PODS_HOME/scripts/SCRIPT or `speckit-pods
#             SUBCOMMAND` with `--<key> <value>` for each configured key of KEYS (a
#             space-separated list) before ARGS; same exit codes as speckit-pods.
#           PODS_ALSO_REFUSED  flags this wrapper refuses too (the wrapper sets these four)
#           PODS_EXACT         its own options that only look like an abbreviation of a
#                              pinned flag (`--all` of tail-logs), accepted as they are
#           PODS_FLAG_FORM     1: refuse positional arguments (spawn's BRANCH REPO_URL ...)
#           PODS_BOOLEANS      with PODS_FLAG_FORM: the options that take no value

PODS_EXT_DIR="$(
  src="${BASH_SOURCE[0]}"
  [[ "$src" == */* ]] || src="./$src"
  CDPATH='' cd -- "${src%/*}/../.." && pwd -P
)"
PODS_CONFIG="$PODS_EXT_DIR/pods-config.yml"
PODS_PROJECT="$(CDPATH='' cd -- "$PODS_EXT_DIR/../../.." && pwd -P)" # holds .specify/
PODS_CONFIG_KEYS="image repo git_secret llm_secret namespace context allow_insecure_http max_tokens llm_price max_cost toolchain_image setup_timeout checkpoint_interval"
# argparse takes any unambiguous prefix of a long option of `logs` and `dispatch`, and
# `-nVALUE` / `-vn VALUE` for `-n`: every spelling of these is refused
PODS_PINNED_FLAGS="--image --repo --git-secret --llm-secret --namespace --context --allow-insecure-http --max-tokens --llm-price --max-cost --toolchain-image --setup-timeout --checkpoint-interval"
# PODS_ALSO_REFUSED, PODS_EXACT, PODS_FLAG_FORM and PODS_BOOLEANS: every wrapper assigns all
# four before sourcing this file (never a default: an exported PODS_EXACT would be taken)
PODS_EXIT_USAGE=2          # runtime/contract/exit_codes.py: ExitCode.USAGE
PODS_EXIT_INVALID_INPUT=26 # ExitCode.INVALID_INPUT

# pods_die MSG [CODE [HINT]]: `ERROR: MSG` (one line), `Hint: HINT` if given; exit CODE (1)
pods_die() {
  printf 'ERROR: %s\n' "$1" >&2
  [[ -z "${3:-}" ]] || printf 'Hint: %s\n' "$3" >&2
  exit "${2:-1}"
}

# _pods_refuse FLAG ARG: exit 2 with one ERROR: line and a Hint: line
_pods_refuse() {
  local flag="$1" arg="$2" key
  if [[ " $PODS_PINNED_FLAGS " == *" $flag "* ]]; then
    key="${flag#--}"
    pods_die "$flag comes from .specify/extensions/pods/pods-config.yml (${key//-/_}), not from\
 the command line: refused '$arg'" "$PODS_EXIT_USAGE" "the developer sets it in that file,\
 which agents cannot change; for a one-off run use speckit-pods itself"
  fi
  pods_die "$flag is not accepted by the extension's ${0##*/}: refused '$arg'" \
    "$PODS_EXIT_USAGE" "the task branch is specs/<feature>/<TID>-async and the context the\
 feature dir; for a one-off run use speckit-pods itself"
}

# _pods_short_booleans ARG: whether ARG is a cluster of PODS_BOOLEANS' short flags (-vh)
_pods_short_booleans() {
  local letters="" flag
  for flag in $PODS_BOOLEANS; do [[ "$flag" != -? ]] || letters="$letters${flag#-}"; done
  [[ -n "$letters" && "${1#-}" =~ ^[$letters]+$ ]]
}

# _pods_check_path WHAT PATH [SHOWN]: refuse a PATH outside the project (it would send
# another project's tasks and spec documents to the pod, or tick a line in a file
# elsewhere); SHOWN (default PATH) is what the ERROR line quotes
_pods_check_path() {
  if [[ "/$2/" == */../* || ("$2" == /* && "$2" != "$PODS_PROJECT" && "$2" != "$PODS_PROJECT/"*) ]]; then
    pods_die "$1 must name a file inside this project ($PODS_PROJECT), without '..':\
 refused ${3:-"'$2'"}" "$PODS_EXIT_USAGE"
  fi
}

# _pods_check_args ARGS...: refuse pinned flags, their prefixes, -n, `--`, a --tasks
# outside the project; with PODS_FLAG_FORM=1 also positional arguments and unknown short
# options
_pods_check_args() {
  local arg name flag expect_value=0 expect_path=0
  for arg in "$@"; do
    if ((expect_path)); then
      expect_path=0
      _pods_check_path --tasks "$arg"
    fi
    if ((expect_value)); then
      expect_value=0
      [[ "$arg" == -* ]] || continue
    fi
    name="${arg%%=*}"
    if [[ "$arg" == -- ]]; then
      pods_die "'--' is not accepted by the extension's ${0##*/}" "$PODS_EXIT_USAGE"
    elif [[ "$arg" == --* ]]; then
      if [[ " $PODS_EXACT " != *" $name "* ]]; then
        for flag in $PODS_PINNED_FLAGS $PODS_ALSO_REFUSED; do
          [[ "$flag" != "$name"* ]] || _pods_refuse "$flag" "$arg"
        done
        if [[ "${#name}" -gt 3 && --tasks == "$name"* ]]; then
          [[ "$arg" != *=* ]] || _pods_check_path --tasks "${arg#*=}"
          [[ "$arg" == *=* ]] || expect_path=1
        fi
      fi
      [[ "$arg" == *=* || " $PODS_BOOLEANS " == *" $arg "* ]] || expect_value=1
    elif [[ "$arg" == -?* ]]; then
      [[ "$arg" != *n* ]] || _pods_refuse --namespace "$arg"
      if ! _pods_short_booleans "$arg"; then
        [[ "$PODS_FLAG_FORM" != 1 ]] || pods_die "unexpected option '$arg'. Use --help." \
          "$PODS_EXIT_USAGE"
        expect_value=1
      fi
    elif [[ "$PODS_FLAG_FORM" == 1 ]]; then
      pods_die "unexpected argument '$arg': the extension's ${0##*/} takes the flag form\
 only (--task-id TID [--tasks FILE] ...), not TID BRANCH REPO_URL CONTEXT_DIR" \
        "$PODS_EXIT_USAGE"
    fi
  done
  return 0
}

# _pods_read_config: set pods_cfg_<key> for each key of PODS_CONFIG (empty if unset)
_pods_read_config() {
  local key line number=0 value where
  for key in $PODS_CONFIG_KEYS; do printf -v "pods_cfg_$key" '%s' ''; done
  [[ -e "$PODS_CONFIG" ]] || return 0
  local seen=" " blank='^[[:space:]]*(#.*)?$' plain='^[A-Za-z0-9][A-Za-z0-9._~:/@%+=,-]*$'
  # key: | key:  # comment | key: value | key: value  # comment
  local entry='^([a-z_]+):([[:space:]]+(#.*)?|[[:space:]]+([^[:space:]#][^[:space:]]*)'
  entry+='([[:space:]]+#.*)?)?[[:space:]]*$'
  while IFS= read -r line || [[ -n "$line" ]]; do
    number=$((number + 1))
    where="${PODS_CONFIG}, line $number"
    line="${line%$'\r'}"
    if [[ "$line" =~ $blank ]]; then continue; fi
    [[ "$line" =~ $entry ]] || _pods_bad_config "$where: expected \`key: value\` (one word, no indentation)"
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[4]}"
    [[ " $PODS_CONFIG_KEYS " == *" $key "* ]] || _pods_bad_config "$where: unknown key '$key'\
 (known: $PODS_CONFIG_KEYS)"
    [[ "$seen" != *" $key "* ]] || _pods_bad_config "$where: '$key' given twice"
    seen="$seen$key "
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
      value="${BASH_REMATCH[1]}"
    fi
    [[ -z "$value" || "$value" =~ $plain ]] \
      || _pods_bad_config "$where: $key: '$value' is not a plain value (letters, digits and\
 ._~:/@%+=,- only, not starting with - or a quote)"
    if [[ "$key" == allow_insecure_http && ! "$value" =~ ^(true|false)?$ ]]; then
      _pods_bad_config "$where: allow_insecure_http must be true or false, not '$value'"
    fi
    printf -v "pods_cfg_$key" '%s' "$value"
  done <"$PODS_CONFIG"
  return 0
}

_pods_bad_config() {
  pods_die "$1" "$PODS_EXIT_INVALID_INPUT" "fix the file (see config-template.yml next to it)"
}

# _pods_env: PODS_ENV=(NAME=VALUE ...), every exported variable but those that could run
# code in speckit-pods, git or a child bash, or that speckit-pods reads instead of a pinned
# flag. `env -i` with it also drops exported functions (BASH_FUNC_*), which `bash -p` only
# ignores itself.
_pods_env() {
  local name
  PODS_ENV=()
  for name in $(compgen -e); do
    case "$name" in
      GIT_* | PYTHON* | BASH_ENV | ENV | BASHOPTS | SHELLOPTS | PS4 | CDPATH | GLOBIGNORE | \
        BROWSER | LD_* | DYLD_* | PERL5* | PERLLIB | RUBYOPT | RUBYLIB | NODE_OPTIONS | \
        SSH_ASKPASS | EDITOR | VISUAL | PAGER | SPECKIT_PODS_NAMESPACE | \
        SPECKIT_PODS_ALLOW_INSECURE_HTTP | SPECKIT_PODS_MAX_TOKENS | SPECKIT_PODS_LLM_PRICE | \
        SPECKIT_PODS_MAX_COST | SPECKIT_PODS_IMAGE | SPECKIT_PODS_TOOLCHAIN_IMAGE | \
        SPECKIT_PODS_CHECKPOINT_INTERVAL | SPECKIT_PODS_GIT_* | SPECKIT_PODS_PR | \
        SPECKIT_PODS_TEST_COMMAND) ;;
      *) PODS_ENV+=("$name=${!name}") ;;
    esac
  done
}

# _pods_check_env: the spec-kit variables that choose the tasks.md stay inside the project.
# Their values are not quoted: an `export` may have filled them with a file's content.
_pods_check_env() {
  local name value
  for name in SPECIFY_INIT_DIR SPECIFY_FEATURE_DIRECTORY; do
    value="${!name:-}"
    [[ -z "$value" ]] || _pods_check_path "$name" "$value" "its value"
  done
}

pods_main() {
  local script="$1" subcommand="$2" keys="$3" home="${SPECKIT_PODS_HOME:-}" arg key value
  shift 3
  _pods_check_args "$@"
  _pods_check_env
  local pinned=() help=0
  for arg in "$@"; do [[ "$arg" != -h && "$arg" != --help ]] || help=1; done
  if ((help == 0)); then
    _pods_read_config
    for key in $keys; do
      value="pods_cfg_$key"
      value="${!value}"
      if [[ "$key" == allow_insecure_http ]]; then
        [[ "$value" != true ]] || pinned+=(--allow-insecure-http)
      elif [[ -n "$value" ]]; then
        pinned+=("--${key//_/-}" "$value")
      fi
    done
  fi
  _pods_env
  local use_path="unset it to use the speckit-pods command from PATH" target
  if [[ -n "$home" ]]; then
    [[ -d "$home" ]] || pods_die "SPECKIT_PODS_HOME is not a directory: point it at the\
 speckit-pods checkout (the directory holding scripts/spawn-pod.sh), or $use_path"
    [[ -f "$home/scripts/spawn-pod.sh" ]] || pods_die "SPECKIT_PODS_HOME=$home does not hold\
 scripts/spawn-pod.sh: point it at the speckit-pods checkout, or $use_path"
    [[ -x "$home/scripts/$script" ]] || pods_die "not executable: $home/scripts/$script\
 (chmod +x it, or $use_path)"
    target="$home/scripts/$script"
    [[ "$target" != *=* ]] || pods_die "SPECKIT_PODS_HOME must not contain '=': $home"
    exec /usr/bin/env -i ${PODS_ENV[@]+"${PODS_ENV[@]}"} "$target" \
      ${pinned[@]+"${pinned[@]}"} "$@"
  fi
  target="$(command -v speckit-pods)" || pods_die "speckit-pods not found: pip install\
 speckit-pods (puts the speckit-pods command on PATH), or export\
 SPECKIT_PODS_HOME=/path/to/speckit-pods (the checkout holding scripts/spawn-pod.sh),\
 in the environment OpenCode starts from"
  [[ "$target" != *=* ]] || pods_die "the speckit-pods command's path contains '=': $target"
  exec /usr/bin/env -i ${PODS_ENV[@]+"${PODS_ENV[@]}"} "$target" "$subcommand" \
    ${pinned[@]+"${pinned[@]}"} "$@"
}
